"""The patient directory: one search over name, email and phone, patients and guests alike.

Emails and phones are encrypted, so they are found through blind indexes
(app/patients/phone_index.py); names by part. Guests are grouped by contact: the
bookings that share a guest email or phone are one person (a guest with neither is
known by name only). Phone candidates found by digest are checked against the
decrypted number, so a shared prefix never shows someone else.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from app import crypto
from app.extensions import db
from app.models import Booking, Location, PatientProfile, PhoneLookupToken, User, utcnow
from app.patients.phone_index import default_region, query_digests
from app.patients.phone_search import digits_of, looks_like_phone, read_query
from app.queries.frontdesk import _like_escaped

LIMIT = 25
OPEN = ("held", "pending", "confirmed")


@dataclass
class Entry:
    """One person in the directory."""

    kind: str  # patient | guest
    id: uuid.UUID  # the user, or the guest's most recent booking
    name: str
    email: str | None
    phone: str | None
    visits: int = 0
    next_visit: datetime | None = None
    next_zone: str | None = None  # the zone of the next visit's location
    group_key: str = ""
    booking_ids: list[uuid.UUID] = field(default_factory=list)


def phone_regions(organization_id: uuid.UUID) -> list[str]:
    """The configured default region and those of the clinic's own phone numbers."""
    regions = [current_app.config.get("DEFAULT_PHONE_REGION", "US")]
    for phone in db.session.scalars(select(Location.phone).where(Location.organization_id == organization_id,
                                                                 Location.phone.is_not(None))):
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
        except phonenumbers.NumberParseException:
            continue
        if region and region not in regions:
            regions.append(region)
    return regions


def _patients(organization_id: uuid.UUID, where) -> list[User]:
    return list(db.session.scalars(
        select(User).options(selectinload(User.patient_profile))
        .where(User.organization_id == organization_id, User.role == "patient", where)
        .order_by(User.full_name, User.id).limit(LIMIT)))


def _guest_bookings(organization_id: uuid.UUID, where) -> list[Booking]:
    return list(db.session.scalars(
        select(Booking).where(Booking.organization_id == organization_id, Booking.patient_id.is_(None), where)
        .order_by(Booking.start_at.desc()).limit(LIMIT * 4)))


def guest_key(booking: Booking) -> str:
    return booking.guest_email_index or booking.guest_phone_index or f"name:{(booking.guest_name or '').lower()}"


def search(organization_id: uuid.UUID, query: str) -> list[Entry]:
    """Patients and guests matching `query`: an email (exactly), a phone number or part of
    one (its start, or its last four or more digits), or part of a name."""
    text = " ".join(query.split())[:200]
    if len(text) < 2:
        return []
    if "@" in text:
        digest = crypto.email_index(text)
        users = _patients(organization_id, User.email_index == digest)
        guests = _guest_bookings(organization_id, Booking.guest_email_index == digest)
    elif looks_like_phone(text):
        users, guests = _by_phone(organization_id, text)
    else:
        like = _like_escaped(text.lower())
        users = _patients(organization_id, func.lower(User.full_name).like(like, escape="\\"))
        guests = _guest_bookings(organization_id, func.lower(Booking.guest_name).like(like, escape="\\"))
    entries = [_patient_entry(user) for user in users] + _guest_entries(organization_id, guests)
    _count_visits(organization_id, entries)
    return sorted(entries, key=lambda e: (e.name.lower(), e.kind))[:LIMIT]


def _by_phone(organization_id: uuid.UUID, text: str) -> tuple[list[User], list[Booking]]:
    wanted = read_query(text, phone_regions(organization_id))
    digests = query_digests(wanted.keys())
    if not digests:
        return [], []
    owners = db.session.execute(select(PhoneLookupToken.patient_profile_id, PhoneLookupToken.booking_id).where(
        PhoneLookupToken.organization_id == organization_id, PhoneLookupToken.token.in_(digests)).distinct()).all()
    profile_ids = {row.patient_profile_id for row in owners if row.patient_profile_id}
    booking_ids = {row.booking_id for row in owners if row.booking_id}
    region = default_region()
    users = [user for user in (_patients(organization_id, User.patient_profile.has(PatientProfile.id.in_(profile_ids)))
                               if profile_ids else [])
             if user.patient_profile and user.patient_profile.phone
             and wanted.matches(digits_of(user.patient_profile.phone, region) or "")]
    guests = [b for b in (_guest_bookings(organization_id, Booking.id.in_(booking_ids)) if booking_ids else [])
              if b.guest_phone and wanted.matches(digits_of(b.guest_phone, region) or "")]
    return users, guests


def _patient_entry(user: User) -> Entry:
    profile = user.patient_profile
    return Entry("patient", user.id, user.full_name, user.email, profile.phone if profile else None,
                 group_key=str(user.id))


def _guest_entries(organization_id: uuid.UUID, found: list[Booking]) -> list[Entry]:
    """One entry per guest contact: the matches widened to every booking of that contact."""
    keys = {guest_key(b) for b in found}
    if not keys:
        return []
    emails = {k for k in keys if not k.startswith("name:")}
    names = {k[5:] for k in keys if k.startswith("name:")}
    conditions = []
    if emails:
        conditions += [Booking.guest_email_index.in_(emails), Booking.guest_phone_index.in_(emails)]
    if names:
        conditions.append(func.lower(Booking.guest_name).in_(names) & Booking.guest_email_index.is_(None)
                          & Booking.guest_phone_index.is_(None))
    groups: dict[str, Entry] = {}
    for booking in _guest_bookings(organization_id, or_(*conditions)):
        key = guest_key(booking)
        if key not in keys:
            continue
        entry = groups.get(key)
        if entry is None:
            entry = groups[key] = Entry("guest", booking.id, booking.guest_name or "", booking.guest_email,
                                        booking.guest_phone, group_key=key)
        entry.email = entry.email or booking.guest_email
        entry.phone = entry.phone or booking.guest_phone
        entry.booking_ids.append(booking.id)
    return list(groups.values())


def _count_visits(organization_id: uuid.UUID, entries: list[Entry]) -> None:
    now = utcnow()
    for entry in entries:
        where = (Booking.patient_id == entry.id) if entry.kind == "patient" else Booking.id.in_(entry.booking_ids)
        rows = db.session.execute(select(Booking.start_at, Booking.status, Location.timezone)
                                  .join(Location, Location.id == Booking.location_id)
                                  .where(Booking.organization_id == organization_id, where)).all()
        entry.visits = sum(1 for r in rows if r.status not in ("held", "expired"))
        upcoming = sorted((r.start_at, r.timezone) for r in rows if r.status in OPEN and r.start_at >= now)
        entry.next_visit, entry.next_zone = upcoming[0] if upcoming else (None, None)


def guest_bookings(organization_id: uuid.UUID, booking_id: uuid.UUID) -> list[Booking]:
    """Every guest booking of the contact who made this one (newest first); [] if it is no guest's."""
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.organization_id != organization_id or booking.patient_id is not None:
        return []
    conditions = []
    if booking.guest_email_index:
        conditions.append(Booking.guest_email_index == booking.guest_email_index)
    if booking.guest_phone_index:
        conditions.append(Booking.guest_phone_index == booking.guest_phone_index)
    if not conditions:
        conditions.append(Booking.id == booking.id)
    return list(db.session.scalars(
        select(Booking).options(joinedload(Booking.provider), joinedload(Booking.appointment_type),
                                joinedload(Booking.location))
        .where(Booking.organization_id == organization_id, Booking.patient_id.is_(None), or_(*conditions))
        .order_by(Booking.start_at.desc())).unique())


def split_visits(visits: list[Booking], now: datetime | None = None) -> tuple[list[Booking], list[Booking]]:
    """(upcoming open visits, soonest first; everything else, newest first) -- expired holds left out."""
    now = now or utcnow()
    upcoming = sorted((b for b in visits if b.status in OPEN and b.end_at >= now), key=lambda b: b.start_at)
    past = [b for b in sorted(visits, key=lambda b: b.start_at, reverse=True)
            if b not in upcoming and b.status not in ("held", "expired")]
    return upcoming, past


def patient_visits(organization_id: uuid.UUID, patient_id: uuid.UUID) -> list[Booking]:
    return list(db.session.scalars(
        select(Booking).options(joinedload(Booking.provider), joinedload(Booking.appointment_type),
                                joinedload(Booking.location))
        .where(Booking.organization_id == organization_id, Booking.patient_id == patient_id)
        .order_by(Booking.start_at.desc()).limit(200)).unique())
