"""A FROZEN copy of the availability engine as it was before the performance work
(app/scheduling/engine.py and wallclock.py at commit 3b7440b), kept only as the
reference that tests/unit/test_engine_equivalence.py compares the live engine with.

Do not edit or optimise this file: its value is that it does not change. The
semantics are documented in app/scheduling/engine.py.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from operator import attrgetter
from zoneinfo import ZoneInfo

from app.scheduling.types import (
    OCCUPYING_STATUSES,
    AppointmentSpec,
    AvailableWindow,
    BlockedInterval,
    Occupancy,
    Slot,
    WeeklyRule,
)

UTC = timezone.utc


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _exists(local: datetime) -> bool:
    """True when this aware local datetime survives a round trip through UTC."""
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def _first_instant_at_or_after(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """For a wall time inside a gap: the transition instant (binary search to the second)."""
    naive = datetime.combine(day, wall)
    lo = datetime.combine(day, wall, tzinfo=tz).replace(fold=1).astimezone(UTC)  # reads as a time before `wall`
    hi = datetime.combine(day, wall, tzinfo=tz).replace(fold=0).astimezone(UTC)  # reads as a time after `wall`
    if lo > hi:
        lo, hi = hi, lo
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0) if hi.microsecond else hi


def window_start(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The first instant at which the local clock shows `wall` (or later, in a gap), in UTC."""
    local = datetime.combine(day, wall, tzinfo=tz).replace(fold=0)
    if not _exists(local):
        return _first_instant_at_or_after(day, wall, tz)
    return local.astimezone(UTC)


def window_end(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The instant a window ending at `wall` ends: the last occurrence in a repeated hour."""
    local = datetime.combine(day, wall, tzinfo=tz).replace(fold=1)
    if not _exists(local):
        return _first_instant_at_or_after(day, wall, tz)
    return local.astimezone(UTC)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


OCCUPYING = frozenset(OCCUPYING_STATUSES)
# Slot's own order (its compared fields), as a C-level key: the dataclass __lt__ is Python
# code called ~n log n times per run, a visible share of a 100-provider reconcile.
_SLOT_ORDER = attrgetter("start", "end", "sort_key")


@dataclass(frozen=True)
class _Window:
    start: datetime
    end: datetime
    location_id: Hashable
    room_id: Hashable | None
    day: date
    parallel_sessions: int


class _IntervalIndex:
    """Sorted half-open intervals with a fast 'what overlaps [a, b)' query."""

    def __init__(self, items: Iterable[tuple[datetime, datetime, object]]):
        self.items = sorted(items, key=lambda item: (item[0], item[1]))
        self._starts = [item[0] for item in self.items]
        self._longest = max((end - start for start, end, _ in self.items), default=timedelta(0))

    def overlapping(self, start: datetime, end: datetime) -> list:
        lo = bisect_left(self._starts, start - self._longest)
        hi = bisect_left(self._starts, end)
        return [payload for s, e, payload in self.items[lo:hi] if s < end and e > start]


def rule_windows(rule: WeeklyRule, day: date) -> list[tuple[datetime, datetime]]:
    """The instants a rule makes available on one local date, breaks cut out."""
    if day.isoweekday() not in rule.weekdays:
        return []
    if (rule.valid_from and day < rule.valid_from) or (rule.valid_to and day > rule.valid_to):
        return []
    tz = zone(rule.timezone)
    crosses = rule.end <= rule.start
    start = window_start(day, rule.start, tz)
    end = window_end(day + timedelta(days=1) if crosses else day, rule.end, tz)
    pieces = [(start, end)]
    for break_start, break_end in rule.breaks:
        # On a window crossing midnight a break may sit on either calendar day (21:00-22:30
        # overlaps a 22:00 start; 01:00-01:30 is after midnight): cut both placements. A
        # window is shorter than a day, so a placement that does not belong never touches it.
        for b_day in ((day, day + timedelta(days=1)) if crosses else (day,)):
            e_day = b_day + timedelta(days=1) if break_end <= break_start else b_day
            pieces = _subtract(pieces, window_start(b_day, break_start, tz), window_end(e_day, break_end, tz))
    return [(s, e) for s, e in pieces if e > s]


def _subtract(pieces: list[tuple[datetime, datetime]], cut_start: datetime, cut_end: datetime):
    out = []
    for start, end in pieces:
        if cut_end <= start or cut_start >= end:
            out.append((start, end))
            continue
        if cut_start > start:
            out.append((start, cut_start))
        if cut_end < end:
            out.append((cut_end, end))
    return out


def _local_dates(start: date, end: date) -> Iterable[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def build_windows(
    rules: Sequence[WeeklyRule],
    extra: Sequence[AvailableWindow],
    spec: AppointmentSpec,
    first_day: date,
    last_day: date,
) -> list[_Window]:
    windows: list[_Window] = []
    for day in _local_dates(first_day - timedelta(days=1), last_day):
        # An overnight window of the day before may reach into the range; it belongs to that day.
        applicable = [r for r in rules if rule_windows_applies(r, day)]
        if not applicable:
            continue
        top = max(r.priority for r in applicable)
        for rule in applicable:
            if rule.priority != top:
                continue
            for start, end in rule_windows(rule, day):
                windows.append(_Window(start, end, rule.location_id, rule.room_id, day, rule.parallel_sessions))
    for window in extra:
        if window.appointment_type_id is not None and window.appointment_type_id != spec.id:
            continue
        start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
        day = local_date(start, zone(window.timezone))
        windows.append(_Window(start, end, window.location_id, window.room_id, day, window.parallel_sessions))
    return [w for w in windows if first_day <= w.day <= last_day and w.end > w.start]


def rule_windows_applies(rule: WeeklyRule, day: date) -> bool:
    if day.isoweekday() not in rule.weekdays:
        return False
    return not ((rule.valid_from and day < rule.valid_from) or (rule.valid_to and day > rule.valid_to))


def _is_live(item: Occupancy, now: datetime) -> bool:
    if item.external:
        return True
    if item.status not in OCCUPYING:
        return False
    return not (item.status == "held" and item.expires_at is not None and item.expires_at <= now)


def compute_slots(
    *,
    spec: AppointmentSpec,
    rules: Sequence[WeeklyRule],
    first_day: date,
    last_day: date,
    now: datetime,
    extra_windows: Sequence[AvailableWindow] = (),
    blocked: Sequence[BlockedInterval] = (),
    occupancy: Sequence[Occupancy] = (),
    room_capacities: Mapping[Hashable, int] | None = None,
    include_unavailable: bool = False,
) -> list[Slot]:
    """Every slot of `spec` on the provider-days `first_day`..`last_day` (local dates).

    See the module docstring for the semantics. Pure and deterministic.
    """
    now = now.astimezone(UTC)
    room_capacities = room_capacities or {}
    duration = timedelta(minutes=spec.duration_minutes)
    step = timedelta(minutes=spec.interval_minutes)
    before = timedelta(minutes=spec.buffer_before_minutes)
    after = timedelta(minutes=spec.buffer_after_minutes)
    earliest = now + timedelta(minutes=spec.min_notice_minutes)
    latest = now + timedelta(days=spec.max_future_days)

    blocks = _IntervalIndex(
        (b.start.astimezone(UTC), b.end.astimezone(UTC), b) for b in blocked
        if b.appointment_type_id is None or b.appointment_type_id == spec.id
    )
    live = _IntervalIndex((o.start.astimezone(UTC), o.end.astimezone(UTC), o) for o in occupancy if _is_live(o, now))

    found: dict[tuple, Slot] = {}
    for window in build_windows(rules, extra_windows, spec, first_day, last_day):
        room = window.room_id if window.room_id is not None else spec.default_room_id
        room_cap = room_capacities.get(room) if room is not None else None
        capacity = spec.seats if spec.seats > 1 else window.parallel_sessions
        if room_cap is not None:
            capacity = max(1, min(capacity, room_cap))
        sort_key = f"{window.location_id}/{window.room_id}"
        start = max(window.start, _first_on_grid(window.start, earliest, step))
        last_start = min(window.end - duration, latest)
        while start <= last_start:
            left, booked, held, status = _occupancy(spec, window, start, capacity, before, after, duration,
                                                   blocks, live, room, room_cap)
            if left >= 1 or include_unavailable:
                key = (start, window.location_id, window.room_id)
                slot = Slot(start=start, end=start + duration, location_id=window.location_id,
                            room_id=window.room_id, local_date=window.day, capacity=capacity,
                            capacity_left=left, booked=booked, held=held, status=status, sort_key=sort_key)
                if key not in found or _better(slot, found[key]):
                    found[key] = slot
            start += step
    return sorted(found.values(), key=_SLOT_ORDER)


def _better(candidate: Slot, current: Slot) -> bool:
    """Two windows offering the same start: keep the most places left, then the larger
    capacity, then the earlier provider-day, so the answer never depends on input order."""
    return (candidate.capacity_left, candidate.capacity, -candidate.local_date.toordinal()) > (
        current.capacity_left, current.capacity, -current.local_date.toordinal())


def _first_on_grid(window_start: datetime, earliest: datetime, step: timedelta) -> datetime:
    """The first grid point of the window at or after `earliest` (the grid stays anchored at the window start)."""
    if earliest <= window_start:
        return window_start
    steps = -((window_start - earliest) // step)  # ceiling division
    return window_start + steps * step


def _occupancy(spec, window, start, capacity, before, after, duration, blocks, live, room,
               room_cap) -> tuple[int, int, int, str]:
    """(capacity left, booked, held, status) of one grid position."""
    span_start, span_end = start - before, start + duration + after
    if blocks.items and any(b.location_id is None or b.location_id == window.location_id
                            for b in blocks.overlapping(span_start, span_end)):
        return 0, 0, 0, "blocked"
    overlapping = live.overlapping(span_start, span_end) if live.items else []
    if not overlapping:
        return capacity, 0, 0, "open"
    if any(o.external for o in overlapping):
        return 0, 0, 0, "blocked"
    if room_cap is not None:
        in_room = sum(1 for o in overlapping if o.room_id == room)
        if in_room >= room_cap:
            return 0, 0, 0, "full"
        left, booked, held, status = _provider_occupancy(
            spec, window, start, capacity, [o for o in overlapping if not o.room_only])
        left = min(left, room_cap - in_room)
        return left, booked, held, _status(left, capacity)
    return _provider_occupancy(spec, window, start, capacity, [o for o in overlapping if not o.room_only])


def _provider_occupancy(spec, window, start, capacity, overlapping) -> tuple[int, int, int, str]:
    """(capacity left, booked, held, status) from the provider's own bookings."""
    if not overlapping:
        return capacity, 0, 0, "open"
    if spec.seats > 1:
        same = [o for o in overlapping if o.appointment_type_id == spec.id and o.session_start == start]
        others = [o for o in overlapping if o not in same]
        if _sessions(others) + 1 > window.parallel_sessions:
            return 0, 0, 0, "full"
        held = sum(1 for o in same if o.status == "held")
        left = max(0, capacity - len(same))
        return left, len(same) - held, held, _status(left, capacity)
    held = sum(1 for o in overlapping if o.status == "held")
    left = max(0, capacity - _sessions(overlapping))
    return left, len(overlapping) - held, held, _status(left, capacity)


def _sessions(items: Sequence[Occupancy]) -> int:
    """People in one group session share the provider's time: count sessions, not people.
    One-to-one bookings are each a session of their own, even at the same start."""
    keys = {(o.appointment_type_id, o.session_start) if o.group and o.session_start is not None else id(o)
            for o in items}
    return len(keys)


def _status(left: int, capacity: int) -> str:
    if left <= 0:
        return "full"
    return "open" if left == capacity else "partial"
