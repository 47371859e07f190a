"""Holding a time: the one place where a new booking is born."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import bindparam, select

from app import events
from app.availability import inputs
from app.availability.rooms import rooms_of
from app.booking import hold_limits
from app.booking.actors import Actor
from app.booking.locking import lock_resources
from app.booking.placement import overbooking_guard, place, slot_unavailable
from app.booking.policies import check_booking_window
from app.database import write_transaction
from app.errors import not_found, validation_error
from app.extensions import db
from app.models import (
    AppointmentType,
    AvailabilitySlot,
    Booking,
    Location,
    Organization,
    Provider,
    User,
    new_id,
    utcnow,
)
from app.models.appointment_type import appointment_type_providers


@dataclass(frozen=True)
class Contact:
    name: str
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class HoldResult:
    booking: Booking
    hold_token: str  # shown once; only its hash is stored


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Target(NamedTuple):
    provider: Provider
    kind: AppointmentType
    start: datetime
    location_id: uuid.UUID | None
    location: Location | None = None  # loaded with a slot that names it (kept referenced: see hold())


def resolve_target(actor: Actor, *, slot_id: uuid.UUID | None = None, provider_id: uuid.UUID | None = None,
                   appointment_type_id: uuid.UUID | None = None, start: datetime | None = None,
                   location_id: uuid.UUID | None = None) -> Target:
    """(provider, type, start, location) named by a slot id or by provider + type + start."""
    location = None
    if slot_id is not None:
        # One statement for the slot, its provider, type and location and whether the provider
        # offers the type (four lookups before, outside the lock; docs/performance.md).
        row = db.session.execute(_SLOT_TARGET, {"slot": slot_id}).first()
        if row is None or row[0].organization_id != actor.organization_id:
            raise slot_unavailable("This time is no longer offered. Please choose another.")
        slot, provider, kind, location, offered = row
        _agrees_with_slot(slot, provider_id=provider_id, appointment_type_id=appointment_type_id, start=start,
                          location_id=location_id)
        start, location_id = slot.start_at, slot.location_id
    else:
        provider = db.session.get(Provider, provider_id) if provider_id else None
        kind = db.session.get(AppointmentType, appointment_type_id) if appointment_type_id else None
        offered = provider is not None and kind is not None and offers(provider.id, kind.id)
    if provider is None or provider.organization_id != actor.organization_id or not provider.is_active:
        raise not_found("provider")
    if kind is None or kind.organization_id != actor.organization_id or not kind.is_active:
        raise not_found("appointment type")
    if not offered:
        raise validation_error({"appointment_type_id": "This provider does not offer this appointment type."})
    if start is None:
        raise validation_error({"start": "Field required"})
    return Target(provider, kind, start, location_id, location)


def _agrees_with_slot(slot: AvailabilitySlot, **named) -> None:
    """A slot names its provider, type, start and place; the same values beside it are fine,
    others would be ignored silently, so they are 422 (docs/api.md)."""
    own = {"provider_id": slot.provider_id, "appointment_type_id": slot.appointment_type_id,
           "start": slot.start_at, "location_id": slot.location_id}
    wrong = {name: "This is not the slot's own value; give slot_id alone, or the same values."
             for name, value in named.items() if value is not None and value != own[name]}
    if wrong:
        raise validation_error(wrong)


def offers(provider_id: uuid.UUID, type_id: uuid.UUID) -> bool:
    """Whether the provider offers the type: one indexed lookup, not the type's providers as objects."""
    return db.session.scalar(_OFFERS, {"provider": provider_id, "kind": type_id}) is not None


def _offer(provider, kind):
    """The link row saying this provider offers this type (columns or bound parameters)."""
    return select(appointment_type_providers.c.provider_id).where(
        appointment_type_providers.c.provider_id == provider, appointment_type_providers.c.appointment_type_id == kind)


_OFFERS = _offer(bindparam("provider"), bindparam("kind")).limit(1)

_SLOT_TARGET = (
    select(AvailabilitySlot, Provider, AppointmentType, Location,
           _offer(AvailabilitySlot.provider_id, AvailabilitySlot.appointment_type_id).exists().label("offered"))
    .join(Provider, Provider.id == AvailabilitySlot.provider_id)
    .join(AppointmentType, AppointmentType.id == AvailabilitySlot.appointment_type_id)
    .outerjoin(Location, Location.id == AvailabilitySlot.location_id)
    .where(AvailabilitySlot.id == bindparam("slot"))
)


def _end_reads_keeping_objects() -> None:
    """End the read snapshot without expiring what it loaded (the provider, type, organization):
    inside the lock they are used only for their settings, which may be as old as the request's
    start, as before; bookings, seats and slots are always queried afresh there. Saves reloading
    them after the write transaction's BEGIN (`write_transaction` commits an open snapshot, and a
    commit expires every object)."""
    session = db.session()
    if session.in_transaction():
        keep, session.expire_on_commit = session.expire_on_commit, False
        try:
            session.commit()
        finally:
            session.expire_on_commit = keep


def hold(actor: Actor, *, contact: Contact | None = None, source: str = "api", notes: str | None = None,
         patient_id: uuid.UUID | None = None, patient_timezone: str | None = None, now: datetime | None = None,
         before_commit: Callable[[HoldResult], None] | None = None, **target) -> HoldResult:
    """Hold a time for `hold_ttl` minutes. Re-checks availability with a fresh engine run
    inside the provider-serialised transaction; 409 SLOT_FULL / SLOT_UNAVAILABLE otherwise.
    `before_commit(result)` runs last inside that transaction (the API stores its answer there)."""
    now = now or utcnow()
    provider, kind, start, location_id, location = resolve_target(actor, **target)
    check_booking_window(kind, start, now)
    if actor.role == "patient":
        patient_id = actor.user_id
    if patient_id is None and (contact is None or not contact.name):
        raise validation_error({"name": "Tell us who the appointment is for."})
    if patient_id is not None and actor.role != "patient":
        patient = db.session.get(User, patient_id)
        if patient is None or patient.organization_id != actor.organization_id or patient.role != "patient":
            raise validation_error({"patient_id": "No such patient in this clinic."})
    token = secrets.token_urlsafe(32)
    # Where a hold's time goes (scripts/profile_requests.py, docs/performance.md, "Fifth
    # pass"): about 15-20 ms of one core on SQLite, 15 statements, a little over half of it
    # inside the write transaction below (on SQLite every writer waits for it). Of that
    # part: the check in place() about a quarter, the slot rows' refresh before commit a
    # fifth, the ORM flush of the booking and its event a sixth, the idempotency row and
    # answer a sixth, the hold cap a twentieth. The hours, time off and types the two engine
    # runs need come from the copy kept across requests (app/availability/static_cache.py):
    # one indexed read instead of eleven queries.
    # Read before the write lock (on SQLite every writer waits for it): the rooms to lock, as
    # PostgreSQL always read them before its advisory locks, and the location the answer shows.
    rooms = rooms_of({provider.id})
    # (kept referenced: the identity map holds objects weakly, and the get inside is then free)
    if location is None and location_id is not None:
        location = db.session.get(Location, location_id)
    _end_reads_keeping_objects()
    with overbooking_guard(), inputs.reusing_static_inputs():
        with write_transaction():
            lock_resources({provider.id}, rooms)
            spot = place(provider, kind, start, now, location_id, rooms=rooms)
            org = db.session.get(Organization, actor.organization_id)
            ttl = org.hold_minutes if org else current_app.config["HOLD_TTL_MINUTES"]
            if location is None or location.id != spot.location_id:
                location = db.session.get(Location, spot.location_id)
            booking = Booking(
                id=new_id(), organization_id=actor.organization_id, patient_id=patient_id,
                guest_name=None if patient_id else contact.name,
                guest_email=None if patient_id else contact.email, guest_phone=None if patient_id else contact.phone,
                provider_id=provider.id, appointment_type_id=kind.id, location_id=spot.location_id,
                room_id=spot.room_id, start_at=spot.start, end_at=spot.end,
                block_start_at=spot.block_start, block_end_at=spot.block_end, status="held",
                hold_expires_at=now + timedelta(minutes=ttl), hold_token_hash=token_hash(token),
                source=source, notes=notes, seat=spot.seat, room_seat=spot.room_seat,
                patient_timezone=patient_timezone or location.timezone, provider_timezone=provider.timezone,
            )
            hold_limits.claim(actor, booking, now)  # the per-person cap, race-safe in this transaction
            db.session.add(booking)
            db.session.flush()
            events.record(booking, "held", actor_id=actor.user_id, actor_role=actor.role, from_status=None,
                          to_status="held", data={"source": source})
            result = HoldResult(booking=booking, hold_token=token)
            if before_commit is not None:
                before_commit(result)
    return result
