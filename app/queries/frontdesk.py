"""Read models for the front desk: finding a caller's patient record, the people who can
be booked at a location, and one day of a location with a column per provider."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app import crypto
from app.extensions import db
from app.models import Location, Provider, User
from app.queries.agenda import AgendaItem, items, local_range

SEARCH_LIMIT = 20


def _like_escaped(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find_patients(organization_id: uuid.UUID, query: str, limit: int = SEARCH_LIMIT) -> list[User]:
    """Patients of this organization: by exact email (through the blind index, since
    addresses are encrypted) when the query looks like one, by phone number or part of one
    (app/queries/patients.py), else by part of the name."""
    text = " ".join(query.split())
    if not text:
        return []
    from app.patients.phone_search import looks_like_phone

    if looks_like_phone(text):
        from app.queries.patients import _by_phone

        return _by_phone(organization_id, text)[0][:limit]
    if "@" in text:
        where = User.email_index == crypto.email_index(text)
    else:
        where = func.lower(User.full_name).like(_like_escaped(text.lower()), escape="\\")
    rows = db.session.scalars(
        select(User).options(selectinload(User.patient_profile))
        .where(User.organization_id == organization_id, User.role == "patient", User.is_enabled, where)
        .order_by(User.full_name, User.id).limit(limit))
    return list(rows)


def patient(organization_id: uuid.UUID, patient_id: uuid.UUID) -> User | None:
    """A patient of this organization, or None (another tenant's user, staff, unknown)."""
    user = db.session.get(User, patient_id)
    if user is None or user.organization_id != organization_id or user.role != "patient":
        return None
    return user


def location(organization_id: uuid.UUID, location_id: uuid.UUID | None) -> Location | None:
    row = db.session.get(Location, location_id) if location_id else None
    return row if row is not None and row.organization_id == organization_id and row.is_active else None


def providers_at(organization_id: uuid.UUID, location_id: uuid.UUID) -> list[Provider]:
    """Active providers who work at this location, by name."""
    query = (select(Provider).options(selectinload(Provider.locations))
             .where(Provider.organization_id == organization_id, Provider.is_active,
                    Provider.locations.any(Location.id == location_id))
             .order_by(Provider.display_name, Provider.id))
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class ProviderColumn:
    provider: Provider
    entries: list[AgendaItem]

    @property
    def booked(self) -> int:
        return sum(1 for e in self.entries if e.kind == "booking")


def day_columns(organization_id: uuid.UUID, place: Location, day: date) -> list[ProviderColumn]:
    """One column per provider of the location, holding that local day's bookings at this
    location, blocked time, time off and external busy time. A booking of the same
    provider at another location shows as time away, without the patient's details."""
    start, end = local_range(day, 1, place.timezone)
    columns = []
    for provider in providers_at(organization_id, place.id):
        entries = []
        for entry in items(organization_id, provider.id, start, end):
            if entry.kind == "booking" and entry.booking.location_id != place.id:
                entry = AgendaItem("away", entry.start, entry.end, f"At {entry.booking.location.name}", "away")
            entries.append(entry)
        columns.append(ProviderColumn(provider, entries))
    return columns
