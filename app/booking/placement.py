"""Placing a booking at a time: the one step holds and reschedules share.

Inside the caller's write transaction `place()` locks the provider and every
room its slots can use, releases stale holds that could be in the way, checks
the time with a fresh engine run (never the cached slots table), and picks a
free place (seat) for the provider and for the room. `overbooking_guard()`
turns PostgreSQL's last line of defence (exclusion constraints and the room
capacity trigger, see docs/invariants.md) into the same 409 the checks give.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError, IntegrityError

from app.availability.check import slot_at
from app.availability.rooms import rooms_of
from app.booking.locking import lock_resources
from app.booking.occupancy import expire_stale_holds, free_room_seat, free_seat
from app.errors import BookwellError
from app.models import AppointmentType, Provider

GUARDS = ("ex_bookings_provider_seat_overlap", "ex_bookings_room_seat_overlap", "bookings_room_capacity")


def slot_full(message: str = "Someone else just took this time. Please choose another.") -> BookwellError:
    return BookwellError(409, "SLOT_FULL", message)


def slot_unavailable(message: str = "This time is not available. Please choose another.") -> BookwellError:
    return BookwellError(409, "SLOT_UNAVAILABLE", message)


@dataclass(frozen=True)
class Placement:
    """Where and when a booking goes, with the places it takes."""

    location_id: uuid.UUID
    room_id: uuid.UUID | None
    start: datetime
    end: datetime
    block_start: datetime  # the visit plus the type's buffers
    block_end: datetime
    seat: int  # the provider's place
    room_seat: int | None  # the room's place (None without a room)


def lock_for(provider_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Lock these providers and all their rooms at once; returns the rooms."""
    rooms = rooms_of(provider_ids)
    lock_resources(provider_ids, rooms)
    return rooms


def place(provider: Provider, kind: AppointmentType, start: datetime, now: datetime,
          location_id: uuid.UUID | None = None, *, exclude_booking_id: uuid.UUID | None = None,
          rooms: set[uuid.UUID] | None = None) -> Placement:
    """Check that `kind` can start at `start` with `provider` and choose its places.

    The caller holds the locks of `lock_for()` (`rooms` is what it returned) and
    owns the transaction. Raises 409 SLOT_FULL or SLOT_UNAVAILABLE.
    """
    rooms = lock_for({provider.id}) if rooms is None else rooms
    expire_stale_holds(now, provider.id, room_ids=rooms)
    slot = slot_at(provider, kind, start, now, location_id, exclude_booking_id=exclude_booking_id)
    if slot is None:
        raise slot_unavailable()
    if slot.capacity_left < 1:
        raise slot_full() if slot.status == "full" else slot_unavailable()
    end = start + timedelta(minutes=kind.duration_minutes)
    block_start = start - timedelta(minutes=kind.buffer_before_minutes)
    block_end = end + timedelta(minutes=kind.buffer_after_minutes)
    room_id = slot.room_id or kind.default_room_id
    return Placement(
        location_id=slot.location_id, room_id=room_id, start=start, end=end,
        block_start=block_start, block_end=block_end,
        seat=free_seat(provider.id, block_start, block_end, exclude_booking_id=exclude_booking_id),
        room_seat=free_room_seat(room_id, block_start, block_end, exclude_booking_id=exclude_booking_id)
        if room_id else None,
    )


@contextmanager
def overbooking_guard() -> Iterator[None]:
    """PostgreSQL refused a place the checks allowed (a bug, or a race they missed): 409, never a 500."""
    try:
        yield
    except (IntegrityError, DBAPIError) as exc:
        if any(name in str(exc.orig) for name in GUARDS):
            raise slot_full() from exc
        raise
