"""The authoritative availability check for one start: a fresh engine run inside the
writer's transaction (never the cached slots table)."""
from __future__ import annotations

import uuid
from datetime import datetime

from app.availability import inputs
from app.availability.materialize import days_touching
from app.availability.triggers import provider_zones
from app.extensions import db
from app.models import AppointmentType, Provider
from app.scheduling.engine import compute_slots
from app.scheduling.types import Slot


def slot_at(provider: Provider, kind: AppointmentType, start: datetime, now: datetime,
            location_id: uuid.UUID | None = None, exclude_booking_id: uuid.UUID | None = None) -> Slot | None:
    """The grid position of `kind` starting at `start` (any status), or None if there is none."""
    first_day, last_day = days_touching([start], provider_zones(db.session(), provider))
    loaded = inputs.load(provider, first_day, last_day, exclude_booking_id)
    spec = inputs.spec_of(kind)
    found = compute_slots(
        spec=spec, rules=loaded.rules, first_day=first_day, last_day=last_day,
        now=now, extra_windows=loaded.extra_windows, blocked=loaded.blocked, occupancy=loaded.occupancy,
        room_capacities=loaded.room_capacities, include_unavailable=True,
    )
    matches = [s for s in found if s.start == start and (location_id is None or s.location_id == location_id)]
    if not matches:
        return None
    return max(matches, key=lambda s: (s.capacity_left, s.capacity))
