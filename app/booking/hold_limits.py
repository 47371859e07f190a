"""The hold cap: how many live holds one person may have at once (no hoarding).

A person is a patient account, a guest's email, a guest's phone number and the
browser session that holds; a hold counts against each of them. The network
address is never a key: families and clinics share one. Staff holds are
neither capped nor counted. The cap is the organization's `max_live_holds`
(default 3), independent of the rate-limit switch. Beyond it the hold is
refused with 409 POLICY_VIOLATION.

`claim` runs inside hold()'s write transaction, after the provider lock. On
SQLite BEGIN IMMEDIATE already serialises every writer; on PostgreSQL two holds
of one person for different providers would run in parallel, so `claim` first
takes a transaction-scoped advisory lock per person key (in sorted order, always
after any provider or room lock, so lock order stays acyclic) and only then
counts. See docs/security.md.
"""
from __future__ import annotations

import zlib
from datetime import datetime
from functools import cache

from sqlalchemy import and_, bindparam, func, or_, select, text

from app import crypto
from app.booking.actors import Actor
from app.database import core_execute
from app.errors import BookwellError
from app.extensions import db
from app.models import Booking, Organization

CAPPED_ROLES = frozenset({"patient", "guest"})
LOCK_CLASS = 0x486F6C64  # "Hold": the int4 key space of person locks (apart from the bigint provider locks)


def _digest(kind: str, value: str | None) -> str | None:
    return crypto.blind_index(f"hold-{kind}:{value}") if value else None


def stamp_holder(actor: Actor, booking: Booking) -> None:
    """Record who holds `booking` as keyed digests (no personal data in clear)."""
    booking.holder_session = _digest("session", actor.session_key)
    booking.holder_email = _digest("email", crypto.normalise_email(booking.guest_email or "") or None)
    booking.holder_phone = _digest("phone", booking.guest_phone)


def _lock(keys: list[str]) -> None:
    session = db.session()
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE holds the database's write lock already
    for key in sorted(set(keys)):
        core_execute(_PERSON_LOCK, {"cls": LOCK_CLASS, "key": zlib.crc32(key.encode()) - 2**31})


_PERSON_LOCK = text("SELECT pg_advisory_xact_lock(:cls, :key)")


def live_holds(organization_id, patient_id, digests: dict[str, str], now: datetime, exclude=None) -> int:
    """How many live portal/API holds the account or any of the digests already has."""
    if not digests and patient_id is None:
        return 0
    query = _live_holds_query(tuple(sorted(digests)), patient_id is not None, exclude is not None)
    return core_execute(query, {"org": organization_id, "now": now, "patient": patient_id, "exclude": exclude,
                                **{f"d_{column}": value for column, value in digests.items()}}).scalar() or 0


@cache
def _live_holds_query(columns: tuple[str, ...], of_patient: bool, excluding: bool):
    """The count of one shape (which digests, a patient or not), built once."""
    who = [getattr(Booking, column) == bindparam(f"d_{column}") for column in columns]
    if of_patient:
        who.append(and_(Booking.patient_id == bindparam("patient"), Booking.source != "staff"))
    query = select(func.count()).select_from(Booking).where(
        Booking.organization_id == bindparam("org"), Booking.status == "held",
        Booking.hold_expires_at > bindparam("now"), or_(*who))
    return query.where(Booking.id != bindparam("exclude")) if excluding else query


def claim(actor: Actor, booking: Booking, now: datetime) -> None:
    """Stamp the holder on `booking` and refuse (409 POLICY_VIOLATION) when any of its
    persons already has the organization's cap of live holds. Call inside the hold's
    write transaction, before the booking is added."""
    if actor.role not in CAPPED_ROLES:
        return
    stamp_holder(actor, booking)
    digests = {column: getattr(booking, column) for column in ("holder_session", "holder_email", "holder_phone")
               if getattr(booking, column)}
    patient_id = booking.patient_id if actor.role == "patient" else None
    _lock([*digests.values(), *([f"patient:{patient_id}"] if patient_id else [])])
    organization = db.session.get(Organization, actor.organization_id)
    cap = organization.max_live_holds
    if live_holds(actor.organization_id, patient_id, digests, now, exclude=booking.id) >= cap:
        raise BookwellError(
            409, "POLICY_VIOLATION",
            f"You are already holding {cap} {'time' if cap == 1 else 'times'}. Confirm or let one go "
            "before you hold another.", {"max_live_holds": cap})
