"""Terse inputs for the availability engine and readable views of what it returns.

Expected slot starts are written as local wall-clock time with its offset
("01:30-05:00"), so a DST regression shows up as a wrong offset, not as an
off-by-one-hour UTC instant nobody can read.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from app.scheduling.engine import compute_slots
from app.scheduling.types import AppointmentSpec, AvailableWindow, BlockedInterval, Occupancy, Slot, WeeklyRule

UTC = timezone.utc
BERLIN = "Europe/Berlin"
EVERY_DAY = frozenset(range(1, 8))
WORKDAYS = frozenset(range(1, 6))
TYPE = "consult"
OTHER_TYPE = "other"
LOCATION = "loc-1"
NOW = datetime(2026, 12, 1, tzinfo=UTC)  # long before every date the tests look at
FAR = 3650  # max_future_days that never interferes


def as_date(day: str | date) -> date:
    return date.fromisoformat(day) if isinstance(day, str) else day


def hm(text: str) -> time:
    return time.fromisoformat(text)


def rule(
    start: str = "09:00",
    end: str = "17:00",
    *,
    tz: str = BERLIN,
    weekdays: Iterable[int] = EVERY_DAY,
    location: Hashable = LOCATION,
    breaks: Sequence[tuple[str, str]] = (),
    valid_from: str | date | None = None,
    valid_to: str | date | None = None,
    **fields,
) -> WeeklyRule:
    """A weekly rule from wall-clock strings; every day of the week unless told."""
    return WeeklyRule(
        weekdays=frozenset(weekdays),
        start=hm(start),
        end=hm(end),
        timezone=tz,
        location_id=location,
        breaks=tuple((hm(a), hm(b)) for a, b in breaks),
        valid_from=as_date(valid_from) if valid_from else None,
        valid_to=as_date(valid_to) if valid_to else None,
        **fields,
    )


def spec(duration: int = 60, **fields) -> AppointmentSpec:
    """The type under test (`TYPE`); notice and horizon stay out of the way unless given."""
    fields.setdefault("max_future_days", FAR)
    return AppointmentSpec(id=fields.pop("id", TYPE), duration_minutes=duration, **fields)


def at(day: str | date, wall: str, tz: str = BERLIN, *, fold: int = 0) -> datetime:
    """The instant a local clock shows `wall` on `day` (fold=1: the second pass of a repeated time)."""
    return datetime.combine(as_date(day), hm(wall), tzinfo=ZoneInfo(tz)).replace(fold=fold)


def booking(
    start: datetime,
    end: datetime,
    *,
    type_id: Hashable = TYPE,
    status: str = "confirmed",
    session_start: datetime | None = None,
    expires_at: datetime | None = None,
    group: bool = False,
) -> Occupancy:
    """A booking occupying [start, end) (buffers included); its session starts at `start` unless told.

    `group`: the booked type has seats > 1, so bookings of one type and start are one session.
    """
    return Occupancy(start=start, end=end, appointment_type_id=type_id, session_start=session_start or start,
                     status=status, expires_at=expires_at, group=group)


def busy(start: datetime, end: datetime) -> Occupancy:
    """An external calendar's busy time."""
    return Occupancy(start=start, end=end, external=True)


def blocked(start: datetime, end: datetime, **fields) -> BlockedInterval:
    return BlockedInterval(start=start, end=end, **fields)


def extra(
    start: datetime, end: datetime, *, tz: str = BERLIN, location: Hashable = LOCATION, **fields
) -> AvailableWindow:
    """An `available` exception between two instants; its provider-day is its start's date in `tz`."""
    return AvailableWindow(start=start, end=end, location_id=location, timezone=tz, **fields)


def slots(
    the_spec: AppointmentSpec,
    rules: Sequence[WeeklyRule],
    first_day: str | date,
    last_day: str | date | None = None,
    *,
    now: datetime = NOW,
    **inputs,
) -> list[Slot]:
    """compute_slots for the provider-days first_day..last_day (one day unless told)."""
    first = as_date(first_day)
    last = as_date(last_day) if last_day is not None else first
    return compute_slots(spec=the_spec, rules=rules, first_day=first, last_day=last, now=now, **inputs)


def wall(instant: datetime, tz: str = BERLIN) -> str:
    """"09:30+02:00": local wall-clock time and the offset in force."""
    return instant.astimezone(ZoneInfo(tz)).isoformat(timespec="minutes")[11:]


def dated(instant: datetime, tz: str = BERLIN) -> str:
    """"2027-05-03T09:30+02:00"."""
    return instant.astimezone(ZoneInfo(tz)).isoformat(timespec="minutes")


def utc(instant: datetime) -> str:
    """"2027-05-03T03:30Z"."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def starts(found: Sequence[Slot], tz: str = BERLIN) -> list[str]:
    return [wall(s.start, tz) for s in found]


def dated_starts(found: Sequence[Slot], tz: str = BERLIN) -> list[str]:
    return [dated(s.start, tz) for s in found]


def places(found: Sequence[Slot], tz: str = BERLIN) -> list[tuple[str, int, int, int, int, str]]:
    """(start, capacity, capacity_left, booked, held, status) of each slot."""
    return [(wall(s.start, tz), s.capacity, s.capacity_left, s.booked, s.held, s.status) for s in found]


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
