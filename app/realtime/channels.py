"""Which live channels a person may follow.

Clients ask for short names; the server maps them to Redis channels of the
person's organization and refuses what their role may not see:
    slots:<provider_id>     anyone (public availability, no personal data)
    booking:<booking_id>    the booking's patient, its provider, front desk, managers, admins
    provider:<provider_id>  that provider, front desk, managers, admins
    location:<location_id>  front desk, managers, admins
"""
from __future__ import annotations

import uuid

from app import roles
from app.extensions import db
from app.models import Booking, Location, Provider, User

CLINIC = frozenset(roles.CLINIC_DESK)


def redis_channel(org_id: uuid.UUID, name: str) -> str:
    kind, _, ident = name.partition(":")
    return f"bookwell:org:{org_id}:{kind}:{ident}"


def authorize(user: User | None, org_id: uuid.UUID, name: str) -> str | None:
    """The Redis channel for `name`, or None when this person may not follow it."""
    kind, _, ident = name.partition(":")
    try:
        row_id = uuid.UUID(ident)
    except ValueError:
        return None
    role = user.role if user is not None else None
    if kind == "slots":
        provider = db.session.get(Provider, row_id)
        ok = provider is not None and provider.organization_id == org_id
    elif kind == "booking":
        booking = db.session.get(Booking, row_id)
        ok = booking is not None and booking.organization_id == org_id and user is not None and (
            role in CLINIC or (role == "patient" and booking.patient_id == user.id)
            or (role == "provider" and booking.provider_id == user.provider_id))
    elif kind == "provider":
        provider = db.session.get(Provider, row_id)
        ok = provider is not None and provider.organization_id == org_id and user is not None and (
            role in CLINIC or (role == "provider" and user.provider_id == row_id))
    elif kind == "location":
        location = db.session.get(Location, row_id)
        ok = location is not None and location.organization_id == org_id and role in CLINIC
    else:
        ok = False
    return redis_channel(org_id, name) if ok else None
