"""Inside a locked write: release stale holds, pick a free place of a provider or a room."""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, or_, select

from app import events
from app.availability.triggers import mark_instants
from app.database import core_execute
from app.extensions import db
from app.models import OCCUPYING_STATUSES, Booking


def expire_stale_holds(now: datetime, provider_id: uuid.UUID | None = None, limit: int | None = None,
                       room_ids: Iterable[uuid.UUID] = ()) -> int:
    """Holds past their expiry become `expired`, with an event each: all of them, or those of
    one provider and of the rooms it uses. Caller owns the transaction."""
    rooms = sorted(set(room_ids), key=str)
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    params = {"now": now, "provider": provider_id, "rooms": rooms}
    any_stale = _stale_holds(provider_id is not None, bool(rooms), limit=1, postgresql=False, ids_only=True)
    if not core_execute(any_stale, params).first():
        return 0  # the common case, inside the write lock: one plain read, no ORM query
    query = _stale_holds(provider_id is not None, bool(rooms), limit, postgresql)
    stale = list(db.session.scalars(query, params))
    for booking in stale:
        booking.status = "expired"
        events.record(booking, "expired", actor_id=None, actor_role="system", from_status="held",
                      to_status="expired", data={"hold_expires_at": booking.hold_expires_at.isoformat()})
        mark_instants(db.session(), booking.provider_id, booking.block_start_at, booking.block_end_at)
    return len(stale)


@cache
def _stale_holds(of_provider: bool, with_rooms: bool, limit: int | None, postgresql: bool, ids_only: bool = False):
    """The stale holds query of one shape, built once (building it cost more than running it)."""
    query = select(Booking.id if ids_only else Booking).where(
        Booking.status == "held", Booking.hold_expires_at <= bindparam("now"))
    if of_provider and with_rooms:
        query = query.where(or_(Booking.provider_id == bindparam("provider"),
                                Booking.room_id.in_(bindparam("rooms", expanding=True))))
    elif of_provider:
        query = query.where(Booking.provider_id == bindparam("provider"))
    query = query.order_by(Booking.hold_expires_at)
    if limit:
        query = query.limit(limit)
    return query.with_for_update(skip_locked=True) if postgresql else query


def free_seat(provider_id: uuid.UUID, block_start: datetime, block_end: datetime,
              exclude_booking_id: uuid.UUID | None = None) -> int:
    """The lowest place number no overlapping live booking of this provider holds."""
    return _lowest_free("seat", provider_id, block_start, block_end, exclude_booking_id)


def free_room_seat(room_id: uuid.UUID, block_start: datetime, block_end: datetime,
                   exclude_booking_id: uuid.UUID | None = None) -> int:
    """The lowest place of the room no overlapping live booking (of any provider) holds."""
    return _lowest_free("room_seat", room_id, block_start, block_end, exclude_booking_id)


@cache
def _taken_places(place: str, excluding: bool):
    """The places (`place` "seat" of a provider, "room_seat" of a room) overlapping live
    bookings hold: built once per shape, run with parameters."""
    column, owner = (Booking.seat, Booking.provider_id) if place == "seat" else (Booking.room_seat, Booking.room_id)
    query = select(column).where(owner == bindparam("owner"), Booking.status.in_(OCCUPYING_STATUSES),
                                 Booking.block_start_at < bindparam("end"), Booking.block_end_at > bindparam("start"))
    return query.where(Booking.id != bindparam("exclude")) if excluding else query


def _lowest_free(place: str, owner_id: uuid.UUID, block_start: datetime, block_end: datetime,
                 exclude_booking_id: uuid.UUID | None) -> int:
    excluding = exclude_booking_id is not None
    params = {"owner": owner_id, "start": block_start, "end": block_end}
    if excluding:
        params["exclude"] = exclude_booking_id
    taken = {seat for seat in core_execute(_taken_places(place, excluding), params).scalars() if seat is not None}
    seat = 0
    while seat in taken:
        seat += 1
    return seat
