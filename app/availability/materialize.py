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
from sqlalchemy import bindparam, select

from app.availability import inputs
from app.availability.cache import bump_after_commit
from app.availability.slot_rows import RawValues, diff_rows, existing_rows, write_rows
from app.extensions import db
from app.models import Location, Provider, utcnow
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

    Compares and writes in the driver's own values (app/availability/slot_rows.py, shared
    with reconcile's batch path): executemany, no ORM units of work.
    """
    now = now or utcnow()
    low, high = horizon(now)
    first_day, last_day = max(first_day, low), min(last_day, high)
    provider = db.session.get(Provider, provider_id)
    if provider is None or first_day > last_day:
        return 0
    fresh = engine_slots(provider, first_day, last_day, now) if provider.is_active else {}
    # Compared and written in the driver's own values, as reconcile does (app/availability/
    # slot_rows.py): reading ~200 slot rows of a hold's days through SQLAlchemy's UUID and
    # UTC-datetime processing cost a tenth of a hold.
    connection = db.session.connection()
    raw = RawValues(connection.dialect.name)
    rows = existing_rows(connection, raw, [provider.id], first_day, last_day).get(raw.id(provider.id), {})
    inserts, updates, stale = [], [], []
    diff_rows(raw, provider.organization_id, provider.id,
              [(raw.id(type_id), slots) for type_id, slots in fresh.items()], rows, now, inserts, updates, stale)
    write_rows(connection, raw, inserts, updates, stale)
    changed = len(inserts) + len(updates) + len(stale)
    if changed:
        bump_after_commit(db.session(), provider_id, provider.organization_id)
    return changed


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
