"""Keep `availability_slots` equal to a fresh engine run, per provider-day.

`refresh_provider_days` recomputes every active type of one provider on some
local dates and writes only the difference, so a slot keeps its id while it
exists (clients hold slots by id). It runs inside the caller's transaction.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from app.availability import inputs
from app.availability.cache import bump_after_commit
from app.extensions import db
from app.models import AvailabilitySlot, Provider, utcnow
from app.scheduling.engine import compute_slots
from app.scheduling.types import Slot


def horizon(now: datetime | None = None) -> tuple[date, date]:
    """Local dates kept materialized: from yesterday (UTC) to the configured horizon."""
    today = (now or utcnow()).date()
    return today - timedelta(days=1), today + timedelta(days=current_app.config["HORIZON_DAYS"])


def engine_slots(provider: Provider, first_day: date, last_day: date, now: datetime,
                 include_unavailable: bool = True) -> dict[uuid.UUID, list[Slot]]:
    """A fresh engine run for each active type of the provider."""
    loaded = inputs.load(provider, first_day, last_day)
    return {
        kind.id: compute_slots(
            spec=spec, rules=loaded.rules, first_day=first_day, last_day=last_day, now=now,
            extra_windows=loaded.extra_windows, blocked=loaded.blocked, occupancy=loaded.occupancy,
            room_capacities=loaded.room_capacities, include_unavailable=include_unavailable,
        )
        for kind, spec in loaded.types
    }


def refresh_provider_days(provider_id: uuid.UUID, first_day: date, last_day: date,
                          now: datetime | None = None) -> int:
    """Recompute the provider's slots on local dates first_day..last_day (clipped to the
    horizon); returns how many rows changed. The caller commits."""
    now = now or utcnow()
    low, high = horizon(now)
    first_day, last_day = max(first_day, low), min(last_day, high)
    provider = db.session.get(Provider, provider_id)
    if provider is None or first_day > last_day:
        return 0
    fresh = engine_slots(provider, first_day, last_day, now) if provider.is_active else {}
    existing = db.session.scalars(
        select(AvailabilitySlot).where(
            AvailabilitySlot.provider_id == provider_id,
            AvailabilitySlot.local_date >= first_day, AvailabilitySlot.local_date <= last_day,
        )
    ).all()
    by_key = {(row.appointment_type_id, row.location_id, row.start_at): row for row in existing}
    changed = 0
    wanted = set()
    for type_id, slots in fresh.items():
        for slot in slots:
            key = (type_id, slot.location_id, slot.start)
            wanted.add(key)
            row = by_key.get(key)
            if row is None:
                db.session.add(_new_row(provider, type_id, slot, now))
                changed += 1
            elif _differs(row, slot):
                _copy(row, slot, now)
                changed += 1
    stale = [row.id for key, row in by_key.items() if key not in wanted]
    if stale:
        db.session.execute(delete(AvailabilitySlot).where(AvailabilitySlot.id.in_(stale)))
        changed += len(stale)
    if changed:
        bump_after_commit(db.session(), provider_id)
    return changed


def _new_row(provider: Provider, type_id: uuid.UUID, slot: Slot, now: datetime) -> AvailabilitySlot:
    row = AvailabilitySlot(organization_id=provider.organization_id, provider_id=provider.id,
                           appointment_type_id=type_id, location_id=slot.location_id, start_at=slot.start)
    _copy(row, slot, now)
    return row


def _differs(row: AvailabilitySlot, slot: Slot) -> bool:
    return (row.end_at, row.room_id, row.local_date, row.capacity, row.booked, row.held, row.status) != (
        slot.end, slot.room_id, slot.local_date, slot.capacity, slot.booked, slot.held, slot.status)


def _copy(row: AvailabilitySlot, slot: Slot, now: datetime) -> None:
    row.end_at, row.room_id, row.local_date = slot.end, slot.room_id, slot.local_date
    row.capacity, row.booked, row.held, row.status = slot.capacity, slot.booked, slot.held, slot.status
    row.computed_at = now


def days_touching(instants: Iterable[datetime]) -> tuple[date, date] | None:
    """Local dates any zone could file these instants under, overnight windows included."""
    values = [i for i in instants if i is not None]
    if not values:
        return None
    return min(values).date() - timedelta(days=2), max(values).date() + timedelta(days=1)
