"""Keeps the phone and email blind indexes of patients and guest bookings current.

A session hook (before each flush) recomputes, for every patient profile or booking
whose phone or guest email changed, the keyed digests used to look them up
(app/patients/phone_search.py explains the keys): `patient_profiles.phone_index`,
`bookings.guest_phone_index`, `bookings.guest_email_index` and the rows of
`phone_lookup_tokens`. So every writer (sign-up, profile, portal, front desk, API,
demo) is covered without remembering to call anything.

`reindex_all` rebuilds everything: the migration that added the indexes runs it, and
`flask patients reindex` does after a change of ENCRYPTION_KEY.
"""
from __future__ import annotations

import uuid

from flask import current_app, has_app_context
from sqlalchemy import delete, event, inspect, select
from sqlalchemy.orm import Session

from app import crypto
from app.models import Booking, PatientProfile, PhoneLookupToken, new_id
from app.patients.phone_search import digits_of, number_keys


def default_region() -> str:
    return current_app.config.get("DEFAULT_PHONE_REGION", "US") if has_app_context() else "US"


def phone_digests(phone: str | None) -> tuple[str | None, list[str]]:
    """(the blind index of the whole number, the digests of all its search keys)."""
    digits = digits_of(phone, default_region()) if phone else None
    if not digits:
        return None, []
    keys = sorted(number_keys(digits))
    return crypto.blind_index(f"phone:full:{digits}"), [crypto.blind_index(f"phone:{key}") for key in keys]


def query_digests(keys: set[str]) -> list[str]:
    return [crypto.blind_index(f"phone:{key}") for key in sorted(keys)]


def full_digest(phone: str) -> str | None:
    return phone_digests(phone)[0]


def _changed(obj, *names: str) -> bool:
    state = inspect(obj)
    return state.transient or state.pending or any(state.attrs[name].history.has_changes() for name in names)


def _tokens(owner_field: str, owner_id: uuid.UUID, organization_id: uuid.UUID, digests: list[str]):
    return [PhoneLookupToken(organization_id=organization_id, token=digest, **{owner_field: owner_id})
            for digest in digests]


@event.listens_for(Session, "before_flush")
def _keep_indexes(session: Session, _context, _instances) -> None:
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, PatientProfile) and _changed(obj, "phone"):
            obj.id = obj.id or new_id()
            obj.phone_index, digests = phone_digests(obj.phone)
            _replace(session, obj, "patient_profile_id", digests)
        elif isinstance(obj, Booking) and _changed(obj, "guest_phone", "guest_email"):
            obj.id = obj.id or new_id()
            obj.guest_email_index = crypto.email_index(obj.guest_email) if obj.guest_email else None
            obj.guest_phone_index, digests = phone_digests(obj.guest_phone)
            _replace(session, obj, "booking_id", digests)


def _replace(session: Session, owner, field: str, digests: list[str]) -> None:
    if not inspect(owner).pending:
        session.execute(delete(PhoneLookupToken.__table__).where(getattr(PhoneLookupToken.__table__.c, field) == owner.id))
    session.add_all(_tokens(field, owner.id, owner.organization_id, digests))


def reindex_all(session: Session) -> int:
    """Recompute every index from the decrypted values (inside the caller's transaction)."""
    session.execute(delete(PhoneLookupToken.__table__))
    count = 0
    for profile in session.scalars(select(PatientProfile)):
        profile.phone_index, digests = phone_digests(profile.phone)
        session.add_all(_tokens("patient_profile_id", profile.id, profile.organization_id, digests))
        count += 1
    for booking in session.scalars(select(Booking).where(
            (Booking.guest_phone.is_not(None)) | (Booking.guest_email.is_not(None)))):
        booking.guest_email_index = crypto.email_index(booking.guest_email) if booking.guest_email else None
        booking.guest_phone_index, digests = phone_digests(booking.guest_phone)
        session.add_all(_tokens("booking_id", booking.id, booking.organization_id, digests))
        count += 1
    return count
