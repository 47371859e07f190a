"""Reading availability: open slots and per-date counts, from the materialized table
(cached), with days past the horizon computed on demand."""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.availability.cache import cached
from app.availability.read_cache import note_valid_until
from app.availability.materialize import engine_slots, horizon
from app.extensions import db
from app.models import AppointmentType, AvailabilitySlot, Booking, Location, Provider, utcnow
from app.models.provider import provider_locations


@dataclass(frozen=True)
class OpenSlot:
    id: str | None  # None for days past the horizon (hold those by provider, type and start)
    start: datetime
    end: datetime
    provider_id: str
    location_id: str
    capacity_left: int
    sort_key: str = ""


def _local_range_utc(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return (datetime.combine(first, time(0), tzinfo=tz).astimezone(ZoneInfo("UTC")),
            datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz).astimezone(ZoneInfo("UTC")))


def open_slots(kind: AppointmentType, providers: list[Provider], first: date, last: date, tz: ZoneInfo,
               location_id: uuid.UUID | None = None, now: datetime | None = None) -> list[OpenSlot]:
    """Every bookable slot of `kind` with these providers whose start falls on first..last in `tz`."""
    now = now or utcnow()
    start_utc, end_utc = _local_range_utc(first, last, tz)
    earliest = max(start_utc, now + timedelta(minutes=kind.min_notice_minutes))
    latest = min(end_utc, now + timedelta(days=kind.max_future_days))
    _, horizon_end = horizon(now)
    past = datetime.combine(horizon_end + timedelta(days=1), time(0), tzinfo=ZoneInfo("UTC"))
    if latest < end_utc or latest > past:
        # The far end moves with the clock (the type's days ahead, the horizon's on-demand days):
        # a whole answer built from this read holds for the current minute only.
        note_valid_until(_whole_minute(now) + timedelta(minutes=1))
    if earliest >= latest or not providers:
        return []
    from app.booking.lifecycle import release_expired_holds

    release_expired_holds([p.id for p in providers], now)
    provider_ids = sorted(str(p.id) for p in providers)
    # Bounds that move with the clock (notice, horizon) enter the cache key by the minute,
    # not the microsecond, so reads within a minute share one entry; the exact bounds
    # are applied to the cached rows.
    low, high = _whole_minute(earliest), _whole_minute(latest, up=True)
    parts = ["open", str(kind.id), str(location_id or "-"), ",".join(provider_ids), low.isoformat(), high.isoformat()]
    value = cached(provider_ids, parts, lambda: _materialized(kind, providers, low, high, location_id))
    if isinstance(value, list):  # an entry written before hold expiries were kept: no whole answer from it
        value = {"rows": value, "hold_expiry": now.isoformat()}
    slots = [OpenSlot(id=r[0], start=start, end=datetime.fromisoformat(r[2]), provider_id=r[3], location_id=r[4],
                      capacity_left=r[5], sort_key=r[3])
             for r in value["rows"] if earliest <= (start := datetime.fromisoformat(r[1])) < latest]
    if latest > past:
        slots += _beyond_horizon(kind, providers, max(earliest, past), latest, location_id, now)
    slots.sort(key=lambda s: (s.start, s.sort_key))
    # A whole answer built from these slots (read_cache) holds until the first of them comes
    # within the notice or the next hold of these providers runs out.
    if slots:
        note_valid_until(slots[0].start - timedelta(minutes=kind.min_notice_minutes))
    note_valid_until(datetime.fromisoformat(value["hold_expiry"]) if value["hold_expiry"] else None)
    return slots


def _whole_minute(value: datetime, up: bool = False) -> datetime:
    floor = value.replace(second=0, microsecond=0)
    return floor + timedelta(minutes=1) if up and floor != value else floor


def _materialized(kind, providers, earliest, latest, location_id) -> dict:
    """The open slot rows in [earliest, latest), and when the next hold of these providers runs
    out (read in the same snapshot: a hold taken later bumps the versions)."""
    query = select(AvailabilitySlot).where(
        AvailabilitySlot.appointment_type_id == kind.id,
        AvailabilitySlot.provider_id.in_([p.id for p in providers]),
        AvailabilitySlot.status.in_(("open", "partial")),
        AvailabilitySlot.start_at >= earliest, AvailabilitySlot.start_at < latest,
    ).order_by(AvailabilitySlot.start_at, AvailabilitySlot.provider_id)
    if location_id is not None:
        query = query.where(AvailabilitySlot.location_id == location_id)
    rows = [[str(r.id), r.start_at.isoformat(), r.end_at.isoformat(), str(r.provider_id), str(r.location_id),
             r.capacity - r.booked - r.held] for r in db.session.scalars(query)]
    hold_expiry = db.session.scalar(select(func.min(Booking.hold_expires_at)).where(
        Booking.status == "held", Booking.provider_id.in_([p.id for p in providers])))
    return {"rows": rows, "hold_expiry": hold_expiry.isoformat() if hold_expiry else None}


def _beyond_horizon(kind, providers, earliest, latest, location_id, now) -> list[OpenSlot]:
    out = []
    first, last = earliest.date() - timedelta(days=1), latest.date() + timedelta(days=1)
    for provider in providers:
        for slot in engine_slots(provider, first, last, now, include_unavailable=False).get(kind.id, []):
            if earliest <= slot.start < latest and (location_id is None or slot.location_id == location_id):
                out.append(OpenSlot(id=None, start=slot.start, end=slot.end, provider_id=str(provider.id),
                                    location_id=str(slot.location_id), capacity_left=slot.capacity_left,
                                    sort_key=str(provider.id)))
    return out


def date_counts(kind: AppointmentType, providers: list[Provider], first: date, last: date, tz: ZoneInfo,
                location_id: uuid.UUID | None = None) -> list[dict]:
    counts = Counter(s.start.astimezone(tz).date() for s in open_slots(kind, providers, first, last, tz, location_id))
    days = (last - first).days + 1
    return [{"date": (first + timedelta(days=i)).isoformat(), "available": counts.get(first + timedelta(days=i), 0)}
            for i in range(days)]


def providers_for(org_id: uuid.UUID, kind: AppointmentType, provider_id: uuid.UUID | None,
                  location: Location | None) -> list[Provider]:
    candidates = [p for p in kind.providers if p.is_active and p.organization_id == org_id]
    if provider_id is not None:
        candidates = [p for p in candidates if p.id == provider_id]
    if location is not None and candidates:
        # One query for every candidate's locations (not one lazy load per provider).
        links = provider_locations.c
        here = set(db.session.scalars(select(links.provider_id).where(
            links.location_id == location.id, links.provider_id.in_([p.id for p in candidates]))))
        candidates = [p for p in candidates if p.id in here]
    return candidates
