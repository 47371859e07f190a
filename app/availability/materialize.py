"""Keep `availability_slots` equal to a fresh engine run, per provider-day.

`refresh_provider_days` recomputes every active type of one provider on some
local dates and writes only the difference, so a slot keeps its id while it
exists (clients hold slots by id). It runs inside the caller's transaction.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, delete, insert, select, update

from app.availability import inputs
from app.availability.cache import bump_after_commit
from app.extensions import db
from app.models import AvailabilitySlot, Location, Provider, new_id, utcnow
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
    horizon); returns how many rows changed. The caller commits.

    Writes are bulk statements (executemany), not ORM units of work: a full
    reconcile writes ~1,500 rows per provider-quarter and must stay fast.
    """
    now = now or utcnow()
    low, high = horizon(now)
    first_day, last_day = max(first_day, low), min(last_day, high)
    provider = db.session.get(Provider, provider_id)
    if provider is None or first_day > last_day:
        return 0
    fresh = engine_slots(provider, first_day, last_day, now) if provider.is_active else {}
    table = AvailabilitySlot.__table__
    existing = {
        (row.appointment_type_id, row.location_id, row.start_at): row
        for row in db.session.execute(_EXISTING, {"provider": provider_id, "first": first_day, "last": last_day})
    }
    inserts, updates, wanted = [], [], set()
    for type_id, slots in fresh.items():
        for slot in slots:
            key = (type_id, slot.location_id, slot.start)
            wanted.add(key)
            values = _values(slot)
            row = existing.get(key)
            if row is None:
                inserts.append({"id": new_id(), "organization_id": provider.organization_id,
                                "provider_id": provider.id, "appointment_type_id": type_id,
                                "location_id": slot.location_id, "start_at": slot.start,
                                "computed_at": now, **values})
            elif tuple(getattr(row, name) for name in _COMPARED) != tuple(values[name] for name in _COMPARED):
                updates.append({"row_id": row.id, "computed_at": now, **values})
    stale = [row.id for key, row in existing.items() if key not in wanted]
    if inserts:
        db.session.execute(insert(table), inserts)
    if updates:
        db.session.execute(
            update(table).where(table.c.id == bindparam("row_id"))
            .values({name: bindparam(name) for name in (*_COMPARED, "computed_at")}),
            updates,
            execution_options={"synchronize_session": False},
        )
    for chunk in range(0, len(stale), 500):
        db.session.execute(delete(table).where(table.c.id.in_(stale[chunk:chunk + 500])),
                           execution_options={"synchronize_session": False})
    changed = len(inserts) + len(updates) + len(stale)
    if changed:
        bump_after_commit(db.session(), provider_id, provider.organization_id)
    return changed


_COMPARED = ("end_at", "room_id", "local_date", "capacity", "booked", "held", "status")
_SLOTS = AvailabilitySlot.__table__
_EXISTING = (select(_SLOTS.c.id, _SLOTS.c.appointment_type_id, _SLOTS.c.location_id, _SLOTS.c.start_at,
                    *[_SLOTS.c[name] for name in _COMPARED])
             .where(_SLOTS.c.provider_id == bindparam("provider"), _SLOTS.c.local_date >= bindparam("first"),
                    _SLOTS.c.local_date <= bindparam("last")))  # built once (docs/performance.md)


def _values(slot: Slot) -> dict:
    return {"end_at": slot.end, "room_id": slot.room_id, "local_date": slot.local_date, "capacity": slot.capacity,
            "booked": slot.booked, "held": slot.held, "status": slot.status}


def days_touching(instants: Iterable[datetime], zones: Iterable[str] = ()) -> tuple[date, date] | None:
    """Provider-days these instants can fall on: their local dates in each of `zones`, and
    the day before (an overnight window belongs to the day it started). Without zones,
    the dates any zone could file them under."""
    values = [i for i in instants if i is not None]
    if not values:
        return None
    zones = list(zones)
    if not zones:
        return min(values).date() - timedelta(days=2), max(values).date() + timedelta(days=1)
    local = [value.astimezone(ZoneInfo(name)).date() for value in (min(values), max(values)) for name in zones]
    return min(local) - timedelta(days=1), max(local)


def organization_zones(organization_id: uuid.UUID) -> frozenset[str]:
    """The zones of the organization's locations: the only zones its windows can be in."""
    return frozenset(db.session.scalars(_ZONES, {"org": organization_id}))


_ZONES = select(Location.timezone).where(Location.organization_id == bindparam("org")).distinct()
