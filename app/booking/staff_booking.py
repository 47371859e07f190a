"""Booking on behalf of a caller (front desk): who the visit is for, and the booking itself.

A caller with an email address becomes a patient account of the organization. The
account gets no usable password (the hash of a random secret nobody knows), so it
cannot be signed in to until the patient sets a password; it is found again by email
or name next time. A caller with only a phone number cannot be an account (users are
keyed by email), so their visit is a guest booking carrying the contact details.
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app import crypto, roles
from app.accounts import find_user_by_email, valid_timezone
from app.booking import lifecycle
from app.booking.actors import Actor
from app.booking.hold import Contact, hold
from app.database import write_transaction
from app.errors import BookwellError, not_found, validation_error
from app.extensions import db
from app.models import AppointmentType, Booking, Organization, PatientProfile, User
from app.passwords import hash_password

BOOKERS = frozenset(roles.CLINIC_DESK)


@dataclass(frozen=True)
class Caller:
    """Who a staff booking is for: a patient account, or a guest's contact details."""

    patient_id: uuid.UUID | None = None
    contact: Contact | None = None

    def __post_init__(self) -> None:
        if (self.patient_id is None) == (self.contact is None):
            raise ValueError("a caller is either a patient or a guest contact")


class PatientExists(Exception):
    """The email already belongs to a patient of this organization: book for them instead."""

    def __init__(self, patient: User):
        super().__init__(patient.full_name)
        self.patient = patient


def _require_booker(actor: Actor) -> None:
    if actor.role not in BOOKERS:
        raise BookwellError(403, "FORBIDDEN", "Only the front desk books for callers.")


def register_caller(actor: Actor, *, full_name: str, email: str | None = None, phone: str | None = None,
                    timezone: str = "UTC") -> Caller:
    """A new caller. With an email: a patient account without a usable password, in the
    clinic's language (raises PatientExists when this organization already has a patient
    with that email); the desk's page emails them an invitation to choose a password. An
    email of this clinic's staff is never revealed: the caller becomes a guest contact, as
    they do when only a phone number is given. Other clinics' accounts do not count.

    `phone` must already be normalised (E.164)."""
    _require_booker(actor)
    name = " ".join(full_name.split())
    if not name:
        raise validation_error({"full_name": "Give the caller's name."})
    if not email and not phone:
        raise validation_error({"email": "Give an email address or a phone number."})
    if not email:
        return Caller(contact=Contact(name=name, phone=phone))
    secret_hash = hash_password(secrets.token_urlsafe(32))  # slow on purpose: outside the write lock
    with write_transaction():
        existing = find_user_by_email(email, actor.organization_id)
        if existing is not None:
            if existing.organization_id == actor.organization_id and existing.role == "patient":
                raise PatientExists(existing)
            return Caller(contact=Contact(name=name, email=crypto.normalise_email(email), phone=phone))
        user = User(organization_id=actor.organization_id, email=crypto.normalise_email(email),
                    email_index=crypto.email_index(email), password_hash=secret_hash, role="patient",
                    full_name=name)
        db.session.add(user)
        db.session.flush()
        db.session.add(PatientProfile(organization_id=actor.organization_id, user_id=user.id, phone=phone,
                                      timezone=timezone if valid_timezone(timezone) else "UTC",
                                      language=db.session.get(Organization, actor.organization_id).language))
    return Caller(patient_id=user.id)


def _patient_timezone(actor: Actor, caller: Caller) -> str | None:
    if caller.patient_id is None:
        return None  # hold() falls back to the location's zone
    user = db.session.get(User, caller.patient_id)
    if user is None or user.organization_id != actor.organization_id or user.role != "patient":
        raise not_found("patient")
    return user.patient_profile.timezone if user.patient_profile else None


def _refuse_overlap(actor: Actor, patient_id: uuid.UUID, appointment_type_id: uuid.UUID, start: datetime) -> None:
    """A patient is in one place at a time: a visit overlapping one they already have is
    almost always a slip at the desk (a group class counts too: its seats are for others)."""
    kind = db.session.get(AppointmentType, appointment_type_id)
    if kind is None or kind.organization_id != actor.organization_id:
        return  # hold() gives the proper 404
    end = start + timedelta(minutes=kind.duration_minutes)
    clash = db.session.scalars(select(Booking).where(
        Booking.organization_id == actor.organization_id, Booking.patient_id == patient_id,
        Booking.status.in_(("pending", "confirmed")), Booking.start_at < end, Booking.end_at > start)
        .order_by(Booking.start_at)).first()
    if clash is not None:
        zone = ZoneInfo(clash.location.timezone)
        raise BookwellError(409, "POLICY_VIOLATION", f"{clash.contact_name} already has {clash.appointment_type.name} "
                            f"with {clash.provider.display_name} at {clash.start_at.astimezone(zone):%H:%M} that day.",
                            {"rule": "patient_overlap", "booking_id": str(clash.id)})


def book_for_caller(actor: Actor, caller: Caller, *, provider_id: uuid.UUID, appointment_type_id: uuid.UUID,
                    location_id: uuid.UUID, start: datetime, notes: str | None = None) -> Booking:
    """Book any open time for a caller: hold (availability re-checked under the provider
    lock; 409 SLOT_FULL / SLOT_UNAVAILABLE writes nothing; so does 409 POLICY_VIOLATION
    when the patient already has a visit at that time), confirm, and, when the type
    needs approval, accept it in the same breath: staff booking it is the decision.

    The audit trail says exactly that: held (source staff), confirmed -> pending,
    accepted, each by this staff member. Should confirming fail after the hold, the
    hold is cancelled at once so the time does not stay blocked; should accepting fail,
    the booking stays a pending request in the front-desk queue (check its status)."""
    _require_booker(actor)
    timezone = _patient_timezone(actor, caller)
    if caller.patient_id is not None:
        _refuse_overlap(actor, caller.patient_id, appointment_type_id, start)
    held = hold(actor, patient_id=caller.patient_id, contact=caller.contact, source="staff", notes=notes,
                patient_timezone=timezone, provider_id=provider_id, appointment_type_id=appointment_type_id,
                location_id=location_id, start=start)
    try:
        booking = lifecycle.confirm(actor, held.booking.id, hold_token=held.hold_token)
    except BookwellError:
        lifecycle.cancel(actor, held.booking.id, reason="Booking by staff did not complete.",
                         hold_token=held.hold_token)
        raise
    if booking.status == "pending":
        try:
            booking = lifecycle.accept(actor, booking.id)
        except BookwellError:
            pass  # still a valid request, waiting in the queue; the caller sees its status
    return booking
