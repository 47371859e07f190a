"""Turning a guest into a patient record: their guest bookings move onto one patient.

A guest is known only by the contact details on their bookings. Converting finds the
patient record for them -- an existing patient of this clinic with that email (or,
when no email is given, with that phone number) -- or creates one (without a usable
password, like a caller added at the front desk), and moves every booking of that
guest contact onto it, each with an audit event. Never a duplicate: an email that
already belongs to a patient merges into that patient.
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from app import crypto, events, roles
from app.accounts import find_user_by_email, valid_timezone
from app.booking.actors import Actor
from app.database import write_transaction
from app.errors import BookwellError, not_found, validation_error
from app.extensions import db
from app.models import Booking, PatientProfile, User
from app.passwords import hash_password
from app.patients.phone_index import full_digest
from app.queries.patients import guest_bookings

DESK = frozenset(roles.CLINIC_DESK)


@dataclass(frozen=True)
class Converted:
    patient: User
    created: bool
    moved: int


def _existing_by_phone(organization_id: uuid.UUID, phone: str | None) -> User | None:
    digest = full_digest(phone) if phone else None
    if digest is None:
        return None
    return db.session.scalars(select(User).join(PatientProfile, PatientProfile.user_id == User.id).where(
        User.organization_id == organization_id, User.role == "patient", PatientProfile.phone_index == digest)
        .order_by(User.created_at)).first()


def convert_guest(actor: Actor, booking_id: uuid.UUID, *, email: str | None = None,
                  full_name: str | None = None, timezone: str | None = None) -> Converted:
    """Move every booking of the guest who made `booking_id` onto one patient record
    (found by email, else by phone, else created). 422 when no email is given and no
    patient has the guest's phone; 422 when the email belongs to someone who is not a
    patient of this clinic; 404 for a booking that is not a guest's of this clinic."""
    if actor.role not in DESK:
        raise BookwellError(403, "FORBIDDEN", "Only the front desk keeps patient records.")
    email = crypto.normalise_email(email) if email and email.strip() else None
    secret_hash = hash_password(secrets.token_urlsafe(32))  # slow on purpose: outside the write lock
    with write_transaction():
        visits = guest_bookings(actor.organization_id, booking_id)
        if not visits:
            raise not_found("guest")
        first = visits[0]
        email = email or next((b.guest_email for b in visits if b.guest_email), None)
        phone = next((b.guest_phone for b in visits if b.guest_phone), None)
        name = " ".join((full_name or first.guest_name or "").split())
        patient = find_user_by_email(email) if email else _existing_by_phone(actor.organization_id, phone)
        if patient is not None and (patient.organization_id != actor.organization_id or patient.role != "patient"):
            raise validation_error({"email": "This email belongs to an account that is not a patient of this "
                                             "clinic. Use another email."})
        created = patient is None
        if created:
            if not email:
                raise validation_error({"email": "Give the guest's email: a patient record is found by it."})
            if not name:
                raise validation_error({"full_name": "Give the guest's name."})
            patient = User(organization_id=actor.organization_id, email=email, email_index=crypto.email_index(email),
                           password_hash=secret_hash, role="patient", full_name=name)
            db.session.add(patient)
            db.session.flush()
            zone = timezone if timezone and valid_timezone(timezone) else (first.patient_timezone or "UTC")
            db.session.add(PatientProfile(organization_id=actor.organization_id, user_id=patient.id, phone=phone,
                                          timezone=zone))
        elif phone and patient.patient_profile is not None and not patient.patient_profile.phone:
            patient.patient_profile.phone = phone
        for visit in visits:
            booking = db.session.get(Booking, visit.id)
            booking.patient_id = patient.id
            booking.guest_name = booking.guest_email = booking.guest_phone = None
            events.record(booking, "patient_linked", actor_id=actor.user_id, actor_role=actor.role,
                          from_status=booking.status, to_status=booking.status,
                          data={"patient_id": str(patient.id), "created": created})
    return Converted(patient, created, len(visits))
