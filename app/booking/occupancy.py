"""Inside a provider-locked write: release stale holds, pick a free seat."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from app import events
from app.availability.triggers import mark_instants
from app.extensions import db
from app.models import OCCUPYING_STATUSES, Booking


def expire_stale_holds(now: datetime, provider_id: uuid.UUID | None = None, limit: int | None = None) -> int:
    """Holds past their expiry become `expired`, with an event each. Caller owns the transaction."""
    query = select(Booking).where(Booking.status == "held", Booking.hold_expires_at <= now)
    if provider_id is not None:
        query = query.where(Booking.provider_id == provider_id)
    query = query.order_by(Booking.hold_expires_at)
    if limit:
        query = query.limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    stale = list(db.session.scalars(query))
    for booking in stale:
        booking.status = "expired"
        events.record(booking, "expired", actor_id=None, actor_role="system", from_status="held",
                      to_status="expired", data={"hold_expires_at": booking.hold_expires_at.isoformat()})
        mark_instants(db.session(), booking.provider_id, booking.block_start_at, booking.block_end_at)
    return len(stale)


def free_seat(provider_id: uuid.UUID, block_start: datetime, block_end: datetime,
              exclude_booking_id: uuid.UUID | None = None) -> int:
    """The lowest place number no overlapping live booking of this provider holds."""
    query = select(Booking.seat).where(
        Booking.provider_id == provider_id, Booking.status.in_(OCCUPYING_STATUSES),
        Booking.block_start_at < block_end, Booking.block_end_at > block_start,
    )
    if exclude_booking_id is not None:
        query = query.where(Booking.id != exclude_booking_id)
    taken = {seat for seat in db.session.scalars(query) if seat is not None}
    seat = 0
    while seat in taken:
        seat += 1
    return seat
