"""Frozen value types of the scheduling core.

Wall-clock values (`time`, `date`) are local to the rule's IANA zone; every
`datetime` is timezone-aware and treated as an instant (the engine converts to
UTC). Ids are opaque hashables (UUIDs in the app, strings in tests).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Hashable

# The one definition of "this booking takes time" (docs/invariants.md): the models,
# the state machine and the engine all read it from here.
OCCUPYING_STATUSES: tuple[str, ...] = ("held", "pending", "confirmed")


@dataclass(frozen=True)
class WeeklyRule:
    """Working hours on some ISO weekdays (Monday = 1), in `timezone` wall-clock time.

    `end <= start` means the window crosses local midnight into the next day.
    A date-range rule is a WeeklyRule with both `valid_from` and `valid_to`
    (inclusive local dates). `breaks` are (start, end) wall-clock pairs.
    """

    weekdays: frozenset[int]
    start: time
    end: time
    timezone: str
    location_id: Hashable
    room_id: Hashable | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    parallel_sessions: int = 1
    breaks: tuple[tuple[time, time], ...] = ()
    priority: int = 0


@dataclass(frozen=True)
class AvailableWindow:
    """An extra available window (an `available` exception) between two instants."""

    start: datetime
    end: datetime
    location_id: Hashable
    timezone: str
    room_id: Hashable | None = None
    appointment_type_id: Hashable | None = None  # None: for every type
    parallel_sessions: int = 1


@dataclass(frozen=True)
class BlockedInterval:
    """Time nobody may book: a `blocked` exception or approved time off.

    Optionally limited to one appointment type or one location.
    """

    start: datetime
    end: datetime
    appointment_type_id: Hashable | None = None
    location_id: Hashable | None = None


@dataclass(frozen=True)
class Occupancy:
    """Something that uses the provider's time.

    For bookings, `start`/`end` are the occupied span *including* the booked
    type's buffers, and `session_start` is the visit's own start. Bookings of
    a group type (`group=True`) with the same type and session_start are one
    session (people in one class); every other booking is a session of its
    own. A booking with a `room_id` also takes one place in that room, whoever the
    provider (`room_only` marks other providers' bookings). External busy times have
    `external=True` and block completely. `expires_at` is set for holds: a
    hold whose expiry is at or before `now` occupies nothing.
    """

    start: datetime
    end: datetime
    appointment_type_id: Hashable | None = None
    session_start: datetime | None = None
    room_id: Hashable | None = None
    status: str = "confirmed"  # held | pending | confirmed
    expires_at: datetime | None = None
    external: bool = False
    group: bool = False  # the booked type has seats > 1
    # Another provider's booking in a room this provider's windows use: it takes a place
    # in that room (rooms are shared resources) but none of this provider's time.
    room_only: bool = False


@dataclass(frozen=True)
class AppointmentSpec:
    id: Hashable
    duration_minutes: int
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    slot_interval_minutes: int | None = None  # None: the duration
    seats: int = 1
    min_notice_minutes: int = 0
    max_future_days: int = 60
    default_room_id: Hashable | None = None  # the room a visit uses when its window names none

    @property
    def interval_minutes(self) -> int:
        return self.slot_interval_minutes or self.duration_minutes


@dataclass(frozen=True, order=True)
class Slot:
    """A bookable start. Sorted by start, then location and room."""

    start: datetime  # UTC
    end: datetime  # UTC
    location_id: Hashable = field(compare=False)
    room_id: Hashable | None = field(compare=False)
    local_date: date = field(compare=False)  # the provider-day (in the window's zone) it belongs to
    capacity: int = field(compare=False)
    capacity_left: int = field(compare=False)
    booked: int = field(compare=False, default=0)
    held: int = field(compare=False, default=0)
    status: str = field(compare=False, default="open")  # open | partial | full | blocked
    sort_key: str = ""  # tie-breaker: str(location_id)/str(room_id)
