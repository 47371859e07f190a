"""Confirm, accept, decline, cancel, complete, no-show, reschedule, expire.

One function per use case; each owns its transaction, writes a BookingEvent
with the change, and leaves the slots table true (the commit-time trigger
recomputes the affected provider-days; bulk updates mark them explicitly).
"""
from __future__ import annotations

import hmac
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update

from app import events
from app.availability import inputs
from app.availability.triggers import mark_instants
from app.booking import states
from app.booking.actors import Actor, require_decider, require_may_act_for, require_visible
from app.booking.hold import Contact, resolve_target, token_hash
from app.booking.locking import lock_provider
from app.booking.occupancy import expire_stale_holds
from app.booking.placement import lock_for, overbooking_guard, place, slot_unavailable
from app.booking.policies import (
    check_booking_window,
    check_patient_cancel,
    check_patient_reschedule,
    check_started,
)
from app.database import write_transaction
from app.errors import BookwellError, not_found
from app.extensions import db
from app.models import AppointmentType, Booking, utcnow


def _load(booking_id: uuid.UUID, lock: bool = True) -> Booking | None:
    query = select(Booking).where(Booking.id == booking_id).execution_options(populate_existing=True)
    if lock and db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return db.session.scalars(query).first()


def get_booking(actor: Actor, booking_id: uuid.UUID) -> Booking:
    return require_visible(actor, db.session.get(Booking, booking_id))


def _guest_may_act(actor: Actor, booking: Booking | None, hold_token: str | None) -> Booking:
    """Guests act on a booking only with its hold token; others by visibility. The token of a
    patient's own booking opens it to nobody signed in as someone else: another patient gets
    404, as for any row of another patient (docs/api.md)."""
    if booking is None or booking.organization_id != actor.organization_id:
        raise not_found("booking")
    if (hold_token and booking.hold_token_hash and (booking.patient_id is None or actor.role == "guest")
            and hmac.compare_digest(token_hash(hold_token), booking.hold_token_hash)):
        return booking
    return require_visible(actor, booking)


def confirm(actor: Actor, booking_id: uuid.UUID, *, hold_token: str | None = None, notes: str | None = None,
            contact: Contact | None = None, now: datetime | None = None) -> Booking:
    """held -> pending (type needs approval) or confirmed, by one conditional update on
    token, status and expiry. A stale hold is 409 HOLD_EXPIRED. A guest's `contact`
    details are written by the same update, so a refused confirm changes nothing."""
    now = now or utcnow()
    with write_transaction():
        booking = _guest_may_act(actor, _load(booking_id, lock=False), hold_token)
        kind = db.session.get(AppointmentType, booking.appointment_type_id)
        to = states.target("confirm", booking.status, kind.requires_approval) if booking.status == "held" else None
        condition = [Booking.id == booking.id, Booking.status == "held", Booking.hold_expires_at > now]
        if actor.role not in ("patient",) or booking.patient_id != actor.user_id:
            if not hold_token:
                raise BookwellError(403, "FORBIDDEN", "Confirming a hold needs its hold_token.")
            condition.append(Booking.hold_token_hash == token_hash(hold_token))
        values = {"status": to or "confirmed", "updated_at": now}
        if to == "confirmed":
            values["confirmed_at"] = now
        if notes:
            values["notes"] = notes
        if contact is not None and booking.patient_id is None:
            values.update(guest_name=contact.name, guest_email=contact.email, guest_phone=contact.phone)
        changed = db.session.execute(update(Booking).where(*condition).values(**values)
                                     .execution_options(synchronize_session=False)).rowcount
        booking = _load(booking.id, lock=False)
        if not changed:
            ran_out = booking.status == "expired" or (booking.status == "held" and booking.hold_expires_at <= now)
            if ran_out:  # whether or not the cleanup job has marked it yet
                raise BookwellError(409, "HOLD_EXPIRED", "Your hold on this time has run out. Please choose a time "
                                    "again.", {"hold_expires_at": booking.hold_expires_at.isoformat()})
            states.target("confirm", booking.status)  # raises INVALID_TRANSITION for anything not held
            raise BookwellError(403, "FORBIDDEN", "This hold token does not match the booking.")
        mark_instants(db.session(), booking.provider_id, booking.block_start_at, booking.block_end_at)
        events.record(booking, "confirmed", actor_id=actor.user_id, actor_role=actor.role, from_status="held",
                      to_status=booking.status,
                      data={"hold_to_confirm_ms": int((now - booking.created_at).total_seconds() * 1000)})
    return booking


EVENT_NAMES = {"accept": "accepted", "decline": "declined", "cancel": "cancelled", "complete": "completed",
               "no_show": "no_show", "expire": "expired"}


def _transition(actor: Actor, booking_id: uuid.UUID, action: str, *, reason: str | None = None,
                now: datetime | None = None, checks=None, hold_token: str | None = None) -> Booking:
    now = now or utcnow()
    with write_transaction():
        booking = _guest_may_act(actor, _load(booking_id), hold_token)
        lock_provider(booking.provider_id)
        expire_stale_holds(now, booking.provider_id)  # a hold that ran out is expired, whatever asks
        booking = _load(booking_id)  # re-read under the lock
        to = states.target(action, booking.status)
        if checks:
            checks(booking, now)
        before = booking.status
        booking.status = to
        booking.updated_at = now
        if action == "cancel":
            booking.cancelled_by = "patient" if actor.role in ("patient", "guest") else (
                "system" if actor.role == "system" else "staff")
            booking.cancel_reason = reason
        if action == "decline":
            booking.cancel_reason = reason
        if action == "accept":
            booking.confirmed_at = now
        events.record(booking, EVENT_NAMES[action], actor_id=actor.user_id, actor_role=actor.role,
                      from_status=before, to_status=to, data={"reason": reason} if reason else {})
    return booking


def accept(actor: Actor, booking_id: uuid.UUID, now: datetime | None = None) -> Booking:
    """pending -> confirmed. A pending request already holds its place, so this never overbooks."""
    require_decider(actor)
    return _transition(actor, booking_id, "accept", now=now)


def decline(actor: Actor, booking_id: uuid.UUID, reason: str | None = None, now: datetime | None = None) -> Booking:
    require_decider(actor)
    return _transition(actor, booking_id, "decline", reason=reason, now=now)


def cancel(actor: Actor, booking_id: uuid.UUID, reason: str | None = None, *, hold_token: str | None = None,
           now: datetime | None = None) -> Booking:
    """Patients (and guests with their token) within the type's cancellation notice; staff
    at any time. Frees the time."""

    def policy(booking: Booking, at: datetime) -> None:
        if not actor.is_staff:
            check_patient_cancel(db.session.get(AppointmentType, booking.appointment_type_id), booking, at)

    return _transition(actor, booking_id, "cancel", reason=reason, now=now, checks=policy, hold_token=hold_token)


def complete(actor: Actor, booking_id: uuid.UUID, now: datetime | None = None) -> Booking:
    _require_staff(actor)
    return _transition(actor, booking_id, "complete", now=now,
                       checks=lambda booking, at: check_started(booking, at, "marked completed"))


def no_show(actor: Actor, booking_id: uuid.UUID, now: datetime | None = None) -> Booking:
    _require_staff(actor)
    return _transition(actor, booking_id, "no_show", now=now,
                       checks=lambda booking, at: check_started(booking, at, "marked as a no-show"))


def _require_staff(actor: Actor) -> None:
    if not actor.is_staff:
        raise BookwellError(403, "FORBIDDEN", "Only the clinic can do this.")


def reschedule(actor: Actor, booking_id: uuid.UUID, *, slot_id: uuid.UUID | None = None,
               start: datetime | None = None, now: datetime | None = None,
               provider_id: uuid.UUID | None = None) -> Booking:
    """Move a pending/confirmed booking atomically: the new time is checked and taken in
    the same transaction that releases the old one; a move to where it already is changes
    nothing. With `start`, `provider_id` names another provider of the type (staff moving a
    visit past the slots table's horizon)."""
    now = now or utcnow()
    with overbooking_guard(), inputs.reusing_static_inputs(), write_transaction():
        booking = require_visible(actor, _load(booking_id))
        target = {"slot_id": slot_id} if slot_id else {
            "provider_id": provider_id or booking.provider_id, "appointment_type_id": booking.appointment_type_id,
            "start": start}
        provider, kind, new_start, location_id, _ = resolve_target(actor, **target)
        if kind.id != booking.appointment_type_id:
            raise slot_unavailable("Choose a time for the same kind of appointment.")
        require_may_act_for(actor, provider.id)
        # The old provider's lock too: its agenda changes. One call, one order: moves never deadlock.
        rooms = lock_for({booking.provider_id, provider.id})
        booking = _load(booking_id)
        states.target("reschedule", booking.status)
        if (provider.id, new_start) == (booking.provider_id, booking.start_at) and location_id in (
                None, booking.location_id):
            return booking  # already there: nothing moves, no reschedule is used up, no message goes out
        if not actor.is_staff:
            check_patient_reschedule(kind, booking, now)
        check_booking_window(kind, new_start, now)
        spot = place(provider, kind, new_start, now, location_id, exclude_booking_id=booking.id, rooms=rooms)
        old = {"start": booking.start_at.isoformat(), "provider_id": str(booking.provider_id)}
        booking.provider_id, booking.location_id, booking.room_id = provider.id, spot.location_id, spot.room_id
        booking.seat, booking.room_seat = spot.seat, spot.room_seat
        booking.start_at, booking.end_at = spot.start, spot.end
        booking.block_start_at, booking.block_end_at = spot.block_start, spot.block_end
        booking.reschedule_count += 1
        booking.updated_at = now
        events.record(booking, "rescheduled", actor_id=actor.user_id, actor_role=actor.role,
                      from_status=booking.status, to_status=booking.status,
                      data={"from": old, "to": {"start": new_start.isoformat(), "provider_id": str(provider.id)}})
        db.session.flush()
    return booking


def release_expired_holds(provider_ids: list[uuid.UUID], now: datetime | None = None) -> int:
    """Before slots are read: expire the stale holds of these providers (one indexed
    query when there are none), so an expired hold never hides a time."""
    now = now or utcnow()
    stale = db.session.scalar(select(Booking.id).where(
        Booking.status == "held", Booking.hold_expires_at <= now, Booking.provider_id.in_(provider_ids)).limit(1))
    if stale is None:
        return 0
    total = 0
    with write_transaction():
        for provider_id in provider_ids:
            total += expire_stale_holds(now, provider_id)
    return total


def expire_holds(now: datetime | None = None, batch: int = 500) -> int:
    """The every-minute job: holds past their expiry become expired (they never block anyway)."""
    now = now or utcnow()
    total = 0
    while True:
        with write_transaction():
            count = expire_stale_holds(now, limit=batch)
        total += count
        if count < batch:
            return total


CHECK_IN_OPENS_BEFORE = timedelta(hours=1)


def check_in_open(booking: Booking, now: datetime | None = None) -> bool:
    """Whether the front desk may check this visit in now (the pages show the button then):
    from an hour before its start until its end."""
    now = now or utcnow()
    return (booking.status == "confirmed" and booking.checked_in_at is None
            and booking.start_at - CHECK_IN_OPENS_BEFORE <= now < booking.end_at)


def check_in(actor: Actor, booking_id: uuid.UUID, now: datetime | None = None) -> Booking:
    """The patient arrived (front desk). Only confirmed visits, from an hour before the start."""
    _require_staff(actor)
    now = now or utcnow()
    with write_transaction():
        booking = require_visible(actor, _load(booking_id))
        if booking.status != "confirmed":
            status = booking.status.replace("_", "-")
            raise BookwellError(409, "INVALID_TRANSITION", f"A booking that is {status} cannot be checked in.",
                                {"status": booking.status, "action": "check_in"})
        if now < booking.start_at - CHECK_IN_OPENS_BEFORE:
            raise BookwellError(409, "POLICY_VIOLATION", "Check-in opens an hour before the appointment.")
        if now >= booking.end_at and booking.checked_in_at is None:
            raise BookwellError(409, "POLICY_VIOLATION", "This visit has ended: mark it completed or a no-show.")
        if booking.checked_in_at is None:
            booking.checked_in_at = now
            events.record(booking, "checked_in", actor_id=actor.user_id, actor_role=actor.role,
                          from_status=booking.status, to_status=booking.status, data={})
    return booking
