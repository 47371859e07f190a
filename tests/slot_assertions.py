"""The shared check of invariant 2: the slots table equals a fresh engine run."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import select

from app.availability.materialize import engine_slots
from app.extensions import db
from app.models import AvailabilitySlot, Provider, utcnow


def table_rows(provider_id: uuid.UUID, first: date, last: date) -> set[tuple]:
    rows = db.session.scalars(select(AvailabilitySlot).where(
        AvailabilitySlot.provider_id == provider_id,
        AvailabilitySlot.local_date >= first, AvailabilitySlot.local_date <= last,
    ))
    return {(r.appointment_type_id, r.location_id, r.room_id, r.start_at, r.end_at, r.local_date, r.capacity,
             r.booked, r.held, r.status) for r in rows}


def engine_rows(provider_id: uuid.UUID, first: date, last: date, now: datetime | None = None) -> set[tuple]:
    provider = db.session.get(Provider, provider_id)
    fresh = engine_slots(provider, first, last, now or utcnow()) if provider.is_active else {}
    return {(type_id, s.location_id, s.room_id, s.start, s.end, s.local_date, s.capacity, s.booked, s.held,
             s.status) for type_id, slots in fresh.items() for s in slots}


def assert_slots_match_engine(provider_id: uuid.UUID, first: date, last: date, now: datetime | None = None) -> None:
    """Call inside an app context. Use days at least two days ahead: slots inside the
    minimum notice of 'now' legitimately differ between two moments (or pass the `now`
    the table was computed at)."""
    in_table, expected = table_rows(provider_id, first, last), engine_rows(provider_id, first, last, now)
    missing, extra = expected - in_table, in_table - expected
    assert not missing and not extra, (
        f"slots table drifted from the engine: {len(missing)} missing, {len(extra)} extra; "
        f"first missing {sorted(missing, key=str)[:3]}, first extra {sorted(extra, key=str)[:3]}"
    )
