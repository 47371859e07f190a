"""The organization's own settings, and the room edits app/clinic/setup.py does not offer.

Like setup.py: inputs are already shaped (pages and the API run them through
app/api/schemas.py), each function owns its transaction, and every refusal is a
BookwellError (422 with field details, 404 for ids of another organization).
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from app.database import write_transaction
from app.errors import not_found, validation_error
from app.extensions import db
from app.models import Organization, Room

# A hold must outlive a patient typing their details, and must not block a slot for long.
HOLD_MINUTES_MIN, HOLD_MINUTES_MAX = 2, 60
NAME_MAX = 200
# Live holds one patient, guest contact or browser session may have at once (app/booking/hold_limits.py).
MAX_LIVE_HOLDS_MIN, MAX_LIVE_HOLDS_MAX = 1, 100


def update_settings(org_id: uuid.UUID, *, name: str, slot_exposure_enabled: bool,
                    hold_minutes: int, max_live_holds: int | None = None) -> Organization:
    """Rename the clinic, switch slot sampling on or off, set how long new holds last and
    how many live holds one person may have (None keeps the current cap).

    Holds already taken keep their expiry; the new length applies to the next hold.
    """
    name = name.strip()
    problems: dict[str, str] = {}
    if not 1 <= len(name) <= NAME_MAX:
        problems["name"] = f"Give the clinic a name of at most {NAME_MAX} characters."
    if not HOLD_MINUTES_MIN <= hold_minutes <= HOLD_MINUTES_MAX:
        problems["hold_minutes"] = f"Choose between {HOLD_MINUTES_MIN} and {HOLD_MINUTES_MAX} minutes."
    if max_live_holds is not None and not MAX_LIVE_HOLDS_MIN <= max_live_holds <= MAX_LIVE_HOLDS_MAX:
        problems["max_live_holds"] = f"Choose between {MAX_LIVE_HOLDS_MIN} and {MAX_LIVE_HOLDS_MAX} holds."
    if problems:
        raise validation_error(problems)
    with write_transaction():
        org = db.session.get(Organization, org_id)
        if org is None:
            raise not_found("organization")
        org.name, org.slot_exposure_enabled, org.hold_minutes = name, slot_exposure_enabled, hold_minutes
        if max_live_holds is not None:
            org.max_live_holds = max_live_holds
    return org


def update_room(org_id: uuid.UUID, room_id: uuid.UUID, changes: dict[str, Any]) -> Room:
    """Change a room's name, capacity, virtual flag or active flag (names stay unique per location)."""
    with write_transaction():
        room = db.session.get(Room, room_id)
        if room is None or room.organization_id != org_id:
            raise not_found("room")
        if "name" in changes and db.session.scalars(select(Room.id).where(
                Room.location_id == room.location_id, Room.name == changes["name"], Room.id != room.id)).first():
            raise validation_error({"name": "This location already has a room with this name."})
        for key in ("name", "capacity", "is_virtual", "is_active"):
            if key in changes:
                setattr(room, key, changes[key])
    return room
