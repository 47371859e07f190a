"""The organization's own settings, and the room edits app/clinic/setup.py does not offer.

Like setup.py: inputs are already shaped (pages and the API run them through
app/api/schemas.py), each function owns its transaction, and every refusal is a
BookwellError (422 with field details, 404 for ids of another organization).
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.accounts import valid_timezone
from app.database import write_transaction
from app.errors import not_found, validation_error
from app.extensions import db
from app.models import Organization, Room
from app.tenancy import SLUG

# A hold must outlive a patient typing their details, and must not block a slot for long.
HOLD_MINUTES_MIN, HOLD_MINUTES_MAX = 2, 60
NAME_MAX = 200
# Live holds one patient, guest contact or browser session may have at once (app/booking/hold_limits.py).
MAX_LIVE_HOLDS_MIN, MAX_LIVE_HOLDS_MAX = 1, 100


LANGUAGES = ("en", "de")  # the languages templates/notifications speaks


def create_organization(*, name: str, slug: str, timezone: str = "UTC", country: str | None = None,
                        language: str = "en") -> Organization:
    """A new clinic (tenant): its name, URL slug (`/o/<slug>/`), home zone, country (the
    region for phone numbers typed without +country code) and patients' default language."""
    import phonenumbers

    name, slug = " ".join(name.split()), slug.strip().lower()
    country = country.strip().upper() if country else None
    problems: dict[str, str] = {}
    if not 1 <= len(name) <= NAME_MAX:
        problems["name"] = f"Give the clinic a name of at most {NAME_MAX} characters."
    if not SLUG.match(slug):
        problems["slug"] = "Use 1-80 lower-case letters, digits and dashes (not at either end), e.g. riverside."
    if not valid_timezone(timezone):
        problems["timezone"] = "Use an IANA time zone such as Europe/Berlin."
    if country is not None and country not in phonenumbers.SUPPORTED_REGIONS:
        problems["country"] = "Use a two-letter country code such as DE or US."
    if language not in LANGUAGES:
        problems["language"] = f"Choose one of: {', '.join(LANGUAGES)}."
    if problems:
        raise validation_error(problems)
    with write_transaction():
        if db.session.scalars(select(Organization.id).where(Organization.slug == slug)).first():
            raise validation_error({"slug": "Another organization has this slug."})
        org = Organization(name=name, slug=slug, timezone=timezone, country=country, language=language,
                           hold_minutes=default_hold_minutes())
        db.session.add(org)
    return org


def default_hold_minutes() -> int:
    """A new clinic's hold length: HOLD_TTL_MINUTES, inside the range a clinic may choose."""
    return min(120, max(1, int(current_app.config["HOLD_TTL_MINUTES"])))


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
