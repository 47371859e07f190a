"""A free gap clicked on the day overview, carried into booking for a caller: the provider,
location, day and time, each checked against the organization, and the open time to suggest."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from app.extensions import db
from app.models import AppointmentType, Location, Provider
from app.queries import clinic, frontdesk
from app.scheduling.wallclock import window_start
from app.web.dates import parse_day
from app.web.frontdesk.forms import parse_uuid


@dataclass(frozen=True)
class WantedTime:
    provider: Provider
    location: Location
    kind: AppointmentType | None  # the first visit type the provider offers, if any
    day: date
    at: time

    @property
    def params(self) -> dict[str, str]:
        """Query parameters of the times step (strings only: they are kept in the session)."""
        chosen = {"provider_id": str(self.provider.id), "location_id": str(self.location.id),
                  "date": self.day.isoformat(), "at": self.at.strftime("%H:%M")}
        return chosen | ({"appointment_type_id": str(self.kind.id)} if self.kind else {})

    @property
    def label(self) -> str:
        return (f"{self.provider.display_name} at {self.location.name}, "
                f"{self.day.strftime('%a %d %b')} from {self.at.strftime('%H:%M')}")


def _parse_time(value: str | None) -> time | None:
    try:
        return datetime.strptime(value or "", "%H:%M").time()
    except ValueError:
        return None


def wanted_time(organization_id: uuid.UUID, values) -> WantedTime | None:
    """The gap named by `provider_id`, `location_id`, `date` and `time`, or None when any is
    missing, malformed or not this organization's (then the flow starts without it)."""
    provider_id, location_id = parse_uuid(values.get("provider_id")), parse_uuid(values.get("location_id"))
    at = _parse_time(values.get("time"))
    try:
        day = parse_day(values.get("date") or "")
    except ValueError:
        return None
    if provider_id is None or location_id is None or at is None:
        return None
    provider = db.session.get(Provider, provider_id)
    place = frontdesk.location(organization_id, location_id)
    if (provider is None or provider.organization_id != organization_id or not provider.is_active
            or place is None or place not in provider.locations):
        return None
    kind = next((t for t in clinic.appointment_types(organization_id) if provider in t.providers), None)
    return WantedTime(provider, place, kind, day, at)


def suggested(slots, day: date, tz: ZoneInfo, at: str | None) -> datetime | None:
    """The first open time at or after the clicked time (`at`, local HH:MM) on that day."""
    wall = _parse_time(at)
    if wall is None:
        return None
    instant = window_start(day, wall, tz)
    return next((s.start for s in slots if s.start >= instant), None)
