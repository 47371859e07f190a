"""Booking lists for the audience home pages."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import OCCUPYING_STATUSES, Booking, Location, utcnow

_WITH_DETAILS = (
    joinedload(Booking.patient), joinedload(Booking.provider),
    joinedload(Booking.appointment_type), joinedload(Booking.location),
)


def for_patient(organization_id: uuid.UUID, patient_id: uuid.UUID, *, upcoming: bool, limit: int = 50) -> list[Booking]:
    now = utcnow()
    query = (
        select(Booking).options(*_WITH_DETAILS)
        .where(Booking.organization_id == organization_id, Booking.patient_id == patient_id)
    )
    if upcoming:
        query = query.where(Booking.end_at >= now, Booking.status.in_(OCCUPYING_STATUSES)).order_by(Booking.start_at)
    else:
        query = query.where((Booking.end_at < now) | ~Booking.status.in_(OCCUPYING_STATUSES)).order_by(Booking.start_at.desc())
    return list(db.session.scalars(query.limit(limit)).unique())


def upcoming_for_provider(organization_id: uuid.UUID, provider_id: uuid.UUID, limit: int = 20) -> list[Booking]:
    query = (
        select(Booking).options(*_WITH_DETAILS)
        .where(Booking.organization_id == organization_id, Booking.provider_id == provider_id,
               Booking.end_at >= utcnow(), Booking.status.in_(OCCUPYING_STATUSES))
        .order_by(Booking.start_at).limit(limit)
    )
    return list(db.session.scalars(query).unique())


def pending_requests(organization_id: uuid.UUID, provider_id: uuid.UUID | None = None,
                     location_ids: list[uuid.UUID] | None = None) -> list[Booking]:
    """Requests awaiting approval, oldest request first."""
    query = (
        select(Booking).options(*_WITH_DETAILS)
        .where(Booking.organization_id == organization_id, Booking.status == "pending",
               Booking.start_at >= utcnow())
        .order_by(Booking.created_at)
    )
    if provider_id is not None:
        query = query.where(Booking.provider_id == provider_id)
    if location_ids:
        query = query.where(Booking.location_id.in_(location_ids))
    return list(db.session.scalars(query).unique())


def today_at_location(organization_id: uuid.UUID, location: Location, now: datetime | None = None) -> list[Booking]:
    """Occupying bookings on the location's current local day."""
    zone = ZoneInfo(location.timezone)
    local_now = (now or utcnow()).astimezone(zone)
    start = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=1)).replace(tzinfo=zone)  # wall-clock midnight, DST-safe
    query = (
        select(Booking).options(*_WITH_DETAILS)
        .where(Booking.organization_id == organization_id, Booking.location_id == location.id,
               Booking.start_at >= start, Booking.start_at < end,
               Booking.status.in_((*OCCUPYING_STATUSES, "completed", "no_show")))
        .order_by(Booking.start_at)
    )
    return list(db.session.scalars(query).unique())


def counts_by_status(organization_id: uuid.UUID) -> dict[str, int]:
    from sqlalchemy import func

    rows = db.session.execute(
        select(Booking.status, func.count()).where(Booking.organization_id == organization_id,
                                                   Booking.start_at >= utcnow())
        .group_by(Booking.status)
    )
    return {status: count for status, count in rows}
