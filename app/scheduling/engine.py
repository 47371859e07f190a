"""The availability engine: working rules, exceptions and occupancy in; slots out.

Semantics (each one is tested in tests/unit/test_engine_*.py):

- Windows. A weekly rule gives, on each local date whose ISO weekday it names
  and that lies inside `valid_from`..`valid_to` (inclusive local dates), one
  window of local wall-clock time in the rule's zone. `end <= start` means the
  window crosses local midnight; it still belongs to the provider-day it
  started on. Breaks are cut out of the window. An `available` exception adds
  a window between two instants, even on a day without a rule. When rules of
  different priorities apply to one local date, only those of the highest
  priority count (a date-range "summer hours" rule can replace the weekly
  template on its days).
- Wall-clock time and DST (see wallclock.py). A window covers every instant
  whose local time falls inside it: a DST gap shortens it, a repeated hour
  lengthens it, and the grid runs in real elapsed time, so both instants of a
  repeated 01:30 are offered.
- Grid. Slots start at each window's start (and after each break) and step by
  the slot interval (default: the duration): 09:30–11:30 with 60-minute visits
  gives 09:30 and 10:30. The visit itself must fit inside the window.
- Buffers. A slot occupies its visit plus the type's buffers before and after.
  That whole span must be free of blocked time (blocked exceptions, approved
  time off) and of occupancy; buffers may reach outside working hours, where
  nothing else can be.
- Touching is not overlapping: intervals are half-open [start, end).
- Notice and horizon. A slot starts no earlier than `now + min_notice` and
  no later than `now + max_future_days`.
- Occupancy. Live bookings count with their buffers; a hold counts until its
  expiry (an expired hold never blocks, whether or not cleanup has run);
  external busy times block completely.
- Capacity. One-to-one types (seats = 1): a slot has `parallel_sessions`
  places (capped by the room's capacity), each overlapping session uses one.
  Group types (seats > 1): one session of `seats` places (capped by the room);
  bookings of the same type at the same start take seats in it, any other
  overlapping session uses the provider's time.
- Rooms. A room is shared by every provider whose windows use it. A slot's
  room is its window's room, else the type's default room. Every live
  booking in that room (any provider's) takes one of the room's places for its
  span with buffers; a slot has no more places left than the room has free.
  Other providers' bookings (`room_only`) take nothing else of this provider.
- Overlaps. Two windows offering the same start (overlapping extra
  windows, or rules of one priority) yield one slot: the one with the most
  places left, then the larger capacity, then the earlier provider-day.
- Output. Slots sorted by (start, end, location, room), deterministic.
  Normally only bookable slots (capacity left >= 1); `include_unavailable`
  also returns the grid positions that are full or blocked, with their status,
  which is what the materialized `availability_slots` table stores.

How it runs (docs/engine-performance.md has the profile and the figures).
Before, a run spent about a fifth of its time converting rule hours to
instants through zoneinfo, a third searching occupancy for every grid
position, and more than a quarter in Slot's frozen-dataclass __init__. Now:
- instants are integer microseconds since the epoch inside; a window's grid
  datetimes are made by adding the step, as the grid has always been walked;
- a rule's pieces for one local date come from a bounded cache (_day_pieces),
  shared by every provider with the same hours and by every later run;
- blocked time, external busy times and live bookings each mark the range of
  a window's grid positions they overlap (index arithmetic, no per-position
  search); a position nothing marks is open, and the positions bookings
  overlap go through the same per-item rules as ever (_occupancy);
- Slot objects are made once, for returned slots only (_slot).
tests/unit/test_engine_equivalence.py checks the output against a frozen copy
of the engine from before these changes.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from itertools import accumulate, repeat
from operator import add, attrgetter, itemgetter

from app.scheduling.types import (
    OCCUPYING_STATUSES,
    AppointmentSpec,
    AvailableWindow,
    BlockedInterval,
    Occupancy,
    Slot,
    WeeklyRule,
)
from app.scheduling.wallclock import UTC, local_date, window_end, window_start, zone

OCCUPYING = frozenset(OCCUPYING_STATUSES)
# Slot's own order (its compared fields), as a C-level key.
_SLOT_ORDER = attrgetter("start", "end", "sort_key")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)
_START = itemgetter(0)
# compute_slots's candidates in Slot order: (start µs, sort_key), as end = start + the one duration.
_CANDIDATE_ORDER = itemgetter(0, 1)
_new_object = object.__new__
_set_attribute = object.__setattr__

# A piece of working time: (start, end, start µs, end µs), instants in UTC.
_Piece = tuple[datetime, datetime, int, int]
# A window inside compute_slots: a piece plus (location_id, room_id, provider-day, parallel_sessions).
_WindowRow = tuple[datetime, datetime, int, int, Hashable, "Hashable | None", date, int]
# Distinct (local date, hours, breaks, zone) values a process keeps: under a kilobyte each.
_PIECE_CACHE_SIZE = 8192


@dataclass(frozen=True)
class _Window:
    start: datetime
    end: datetime
    location_id: Hashable
    room_id: Hashable | None
    day: date
    parallel_sessions: int


def _micros(instant: datetime) -> int:
    """Microseconds since the epoch: exact, unlike a float timestamp.

    An aware instant minus the epoch is what `instant.astimezone(UTC) - _EPOCH` is, without the
    astimezone call or a timedelta division (this runs twice per booking and busy time).
    """
    try:
        elapsed = instant - _EPOCH
    except TypeError:  # naive: local time, as astimezone reads it
        elapsed = instant.astimezone(UTC) - _EPOCH
    return (elapsed.days * 86_400 + elapsed.seconds) * 1_000_000 + elapsed.microseconds


def _breaks_key(breaks: Iterable[tuple[time, time]]) -> tuple[tuple[time, time], ...]:
    """A rule's breaks as a hashable tuple (callers may hand in lists)."""
    return breaks if type(breaks) is tuple and all(type(b) is tuple for b in breaks) else tuple(
        (a, b) for a, b in breaks)


@lru_cache(maxsize=_PIECE_CACHE_SIZE)
def _day_pieces(day: date, start: time, end: time, breaks: tuple[tuple[time, time], ...],
                tz_name: str) -> tuple[_Piece, ...]:
    """The instants hours `start`-`end` with `breaks` cover on one local date, breaks cut out.

    Cached: a pure function of its arguments, asked for by every provider with the same hours
    and by every run of the same days (reconcile, the booking check, previews).
    """
    tz = zone(tz_name)
    crosses = end <= start
    first = window_start(day, start, tz)
    last = window_end(day + _ONE_DAY if crosses else day, end, tz)
    pieces = [(first, last)]
    for break_start, break_end in breaks:
        # On a window crossing midnight a break may sit on either calendar day (21:00-22:30
        # overlaps a 22:00 start; 01:00-01:30 is after midnight): cut both placements. A
        # window is shorter than a day, so a placement that does not belong never touches it.
        for b_day in ((day, day + _ONE_DAY) if crosses else (day,)):
            e_day = b_day + _ONE_DAY if break_end <= break_start else b_day
            pieces = _subtract(pieces, window_start(b_day, break_start, tz), window_end(e_day, break_end, tz))
    return tuple((s, e, _micros(s), _micros(e)) for s, e in pieces if e > s)


def rule_windows(rule: WeeklyRule, day: date) -> list[tuple[datetime, datetime]]:
    """The instants a rule makes available on one local date, breaks cut out."""
    if not rule_windows_applies(rule, day):
        return []
    return [(s, e) for s, e, _, _ in _day_pieces(day, rule.start, rule.end, _breaks_key(rule.breaks), rule.timezone)]


def _subtract(pieces: list[tuple[datetime, datetime]], cut_start: datetime,
              cut_end: datetime) -> list[tuple[datetime, datetime]]:
    """The pieces with [cut_start, cut_end) cut out."""
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


def _window_rows(
    rules: Sequence[WeeklyRule],
    extra: Sequence[AvailableWindow],
    spec: AppointmentSpec,
    first_day: date,
    last_day: date,
) -> list[_WindowRow]:
    """The windows of the provider-days first_day..last_day, in a fixed order: day by day, rules in
    input order, then the extra windows in input order (compute_slots's tie-breaks depend on it)."""
    rows: list[_WindowRow] = []
    keyed = [(rule, _breaks_key(rule.breaks)) for rule in rules]
    # An overnight window of the day before may reach into the range, but it belongs to that
    # day, which is outside the range: such windows never count, so that day is not computed.
    day = first_day
    while day <= last_day:
        applicable = [(r, b) for r, b in keyed if rule_windows_applies(r, day)]
        if applicable:
            top = max(r.priority for r, _ in applicable)
            for rule, breaks in applicable:
                if rule.priority != top:
                    continue
                for start, end, start_us, end_us in _day_pieces(day, rule.start, rule.end, breaks, rule.timezone):
                    rows.append((start, end, start_us, end_us, rule.location_id, rule.room_id, day,
                                 rule.parallel_sessions))
        day += _ONE_DAY
    for window in extra:
        if window.appointment_type_id is not None and window.appointment_type_id != spec.id:
            continue
        start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
        day = local_date(start, zone(window.timezone))
        start_us, end_us = _micros(start), _micros(end)
        if first_day <= day <= last_day and end_us > start_us:
            rows.append((start, end, start_us, end_us, window.location_id, window.room_id, day,
                         window.parallel_sessions))
    return rows


def build_windows(
    rules: Sequence[WeeklyRule],
    extra: Sequence[AvailableWindow],
    spec: AppointmentSpec,
    first_day: date,
    last_day: date,
) -> list[_Window]:
    """The available windows of the provider-days first_day..last_day."""
    return [_Window(start, end, location_id, room_id, day, parallel)
            for start, end, _, _, location_id, room_id, day, parallel
            in _window_rows(rules, extra, spec, first_day, last_day)]


def rule_windows_applies(rule: WeeklyRule, day: date) -> bool:
    """True when the rule names this local date's weekday and the date is inside its validity."""
    if day.isoweekday() not in rule.weekdays:
        return False
    return not ((rule.valid_from and day < rule.valid_from) or (rule.valid_to and day > rule.valid_to))


def _is_live(item: Occupancy, now: datetime) -> bool:
    if item.external:
        return True
    if item.status not in OCCUPYING:
        return False
    return not (item.status == "held" and item.expires_at is not None and item.expires_at <= now)


class _Intervals:
    """Half-open intervals in µs, sorted by start, with a fast 'which may overlap [a, b)' query."""

    def __init__(self, items: Iterable[tuple]):
        self.items = sorted(items, key=_START)
        self._starts = [item[0] for item in self.items]
        self._longest = max((item[1] - item[0] for item in self.items), default=0)

    def candidates(self, start: int, end: int) -> list[tuple]:
        """Every interval overlapping [start, end), and maybe some that do not: callers check."""
        if not self.items:
            return self.items
        return self.items[bisect_left(self._starts, start - self._longest):bisect_left(self._starts, end)]


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
    duration_us = duration // _MICROSECOND
    step_delta = timedelta(minutes=spec.interval_minutes)
    step = step_delta // _MICROSECOND
    before = timedelta(minutes=spec.buffer_before_minutes) // _MICROSECOND
    # A position p is overlapped by [s, e) when s < p + reach and e > p - before.
    reach = duration_us + timedelta(minutes=spec.buffer_after_minutes) // _MICROSECOND
    earliest = _micros(now + timedelta(minutes=spec.min_notice_minutes))
    latest = _micros(now + timedelta(days=spec.max_future_days))  # past year 9999: OverflowError, as ever

    # Time nobody may book: blocked intervals of this type (or of every type) at their location
    # (None: every location), and external busy times, which block completely. A position any of
    # them overlaps is (0, 0, 0, "blocked") whatever else overlaps it.
    blocking = [(_micros(b.start), _micros(b.end), b.location_id) for b in blocked
                if b.appointment_type_id is None or b.appointment_type_id == spec.id]
    bookings = []
    for item in occupancy:
        if _is_live(item, now):
            if item.external:
                blocking.append((_micros(item.start), _micros(item.end), None))
            else:
                bookings.append((_micros(item.start), _micros(item.end), item))
    blocks, live = _Intervals(blocking), _Intervals(bookings)

    windows = _window_rows(rules, extra_windows, spec, first_day, last_day)
    # Two windows can offer the same (start, location, room) only when they share location and
    # room and overlap; then the better candidate wins (see below). Without such a pair, which is
    # the usual case, every candidate is kept as it comes, with no dictionary in between.
    unique = _no_shared_starts(windows)
    candidates: list[tuple] = []
    found: dict[tuple, tuple] = {}
    for window_dt, _, window_us, end_us, location, room_id, day, parallel in windows:
        first = window_us if earliest <= window_us else window_us - ((window_us - earliest) // step) * step
        last = min(end_us - duration_us, latest)
        if first > last:
            continue
        count = (last - first) // step + 1
        room = room_id if room_id is not None else spec.default_room_id
        room_cap = room_capacities.get(room) if room is not None else None
        capacity = spec.seats if spec.seats > 1 else parallel
        if room_cap is not None:
            capacity = max(1, min(capacity, room_cap))

        blocked_at, overlapped = _marks(blocks, live, location, first, count, step, before, reach)

        # Each position as µs and as the datetime the slot will carry, made by adding the step as
        # the grid has always been walked (a timedelta per position costs several additions).
        # The window's own start value is its first position, if that is on the grid.
        first_dt = window_dt if first == window_us else window_dt + timedelta(0, 0, first - window_us)
        positions = zip(range(first, last + 1, step), accumulate(repeat(step_delta, count - 1), add, initial=first_dt))
        sort_key = f"{location}/{room_id}"
        open_left = capacity if (capacity >= 1 or include_unavailable) else None
        # Candidates: (start µs, sort_key, slot).
        opened = _fields(location, room_id, day, capacity, open_left, 0, 0, "open", sort_key)
        if blocked_at is None and not overlapped:
            if open_left is None:
                continue
            offered = [(position, sort_key, _slot(opened, start, start + duration)) for position, start in positions]
        else:
            closed = _fields(location, room_id, day, capacity, 0, 0, 0, "blocked", sort_key)
            offered = []
            for k, (position, start) in enumerate(positions):
                if blocked_at is not None and blocked_at[k]:
                    if not include_unavailable:
                        continue
                    fields = closed
                elif k in overlapped:
                    left, booked, held, status = _occupancy(spec, parallel, start, capacity, overlapped[k], room,
                                                            room_cap)
                    if left < 1 and not include_unavailable:
                        continue
                    fields = _fields(location, room_id, day, capacity, left, booked, held, status, sort_key)
                elif open_left is None:
                    continue
                else:
                    fields = opened
                offered.append((position, sort_key, _slot(fields, start, start + duration)))
        if unique:
            candidates += offered
            continue
        for candidate in offered:
            key = (candidate[0], location, room_id)
            current = found.get(key)
            # A dict keeps each start where it first came, which decides ties of the sort below.
            if current is None or _better(candidate[2], current[2]):
                found[key] = candidate
    return [slot for _, _, slot in sorted(candidates if unique else found.values(), key=_CANDIDATE_ORDER)]


def _fields(location_id: Hashable, room_id: Hashable | None, local_date: date, capacity: int, capacity_left: int,
            booked: int, held: int, status: str, sort_key: str) -> dict:
    """A Slot's attribute dict, in field order, but for its start and end (see _slot)."""
    return {"start": None, "end": None, "location_id": location_id, "room_id": room_id, "local_date": local_date,
            "capacity": capacity, "capacity_left": capacity_left, "booked": booked, "held": held, "status": status,
            "sort_key": sort_key}


def _slot(fields: dict, start: datetime, end: datetime) -> Slot:
    """Slot(...) from `fields` (see _fields) with this start and end.

    Built with its attribute dict in place: the dict Slot's generated __init__ leaves behind,
    copied from the window's shared fields, at a fraction of the cost (a frozen dataclass's
    __init__ sets each of its eleven fields through object.__setattr__, which was more than a
    quarter of a run; a fresh eleven-key dict costs several copies of one).
    test_engine_equivalence.py compares the result with the reference engine's Slot(...)
    field by field; Slot has no __post_init__ to skip.
    """
    fields = fields.copy()
    fields["start"] = start
    fields["end"] = end
    slot = _new_object(Slot)
    _set_attribute(slot, "__dict__", fields)
    return slot


def _better(candidate: Slot, current: Slot) -> bool:
    """Two windows offering the same start: keep the most places left, then the larger
    capacity, then the earlier provider-day, so the answer never depends on input order."""
    return (candidate.capacity_left, candidate.capacity, -candidate.local_date.toordinal()) > (
        current.capacity_left, current.capacity, -current.local_date.toordinal())


def _marks(blocks: _Intervals, live: _Intervals, location: Hashable, first: int, count: int, step: int,
           before: int, reach: int) -> tuple[bytearray | None, dict[int, list[Occupancy]]]:
    """Which of a window's `count` grid positions (at first + k * step) are blocked (a 1 in the
    bytearray, None: none is) and which live bookings overlap each of the others (k -> bookings).

    Each interval marks the positions it overlaps instead of a search per position: [s, e)
    overlaps position k's span [p - before, p + reach) exactly when lo <= k < hi below.
    """
    span_start, span_end = first - before, first + (count - 1) * step + reach
    blocked_at: bytearray | None = None
    for s, e, block_location in blocks.candidates(span_start, span_end):
        if e > span_start and (block_location is None or block_location == location):
            lo, hi = max(0, (s - reach - first) // step + 1), min(count, -((first - e - before) // step))
            if lo < hi:
                if blocked_at is None:
                    blocked_at = bytearray(count)
                blocked_at[lo:hi] = b"\x01" * (hi - lo)
    overlapped: dict[int, list[Occupancy]] = {}
    for s, e, item in live.candidates(span_start, span_end):
        if e > span_start:
            for k in range(max(0, (s - reach - first) // step + 1), min(count, -((first - e - before) // step))):
                if blocked_at is None or not blocked_at[k]:
                    overlapped.setdefault(k, []).append(item)
    return blocked_at, overlapped


def _no_shared_starts(windows: list[_WindowRow]) -> bool:
    """True when no two windows with the same location and room overlap in time."""
    by_place: dict[tuple, list[tuple[int, int]]] = {}
    for _, _, start_us, end_us, location, room_id, _, _ in windows:
        by_place.setdefault((location, room_id), []).append((start_us, end_us))
    for spans in by_place.values():
        spans.sort()
        reached = spans[0][1]
        for start_us, end_us in spans[1:]:
            if start_us < reached:
                return False
            reached = max(reached, end_us)
    return True


def _occupancy(spec: AppointmentSpec, parallel: int, start: datetime, capacity: int,
               overlapping: list[Occupancy], room: Hashable | None,
               room_cap: int | None) -> tuple[int, int, int, str]:
    """(capacity left, booked, held, status) of one grid position that live bookings overlap
    (blocked time and external busy times have been ruled out)."""
    if room_cap is not None:
        in_room = sum(1 for o in overlapping if o.room_id == room)
        if in_room >= room_cap:
            return 0, 0, 0, "full"
        left, booked, held, status = _provider_occupancy(
            spec, parallel, start, capacity, [o for o in overlapping if not o.room_only])
        left = min(left, room_cap - in_room)
        return left, booked, held, _status(left, capacity)
    return _provider_occupancy(spec, parallel, start, capacity, [o for o in overlapping if not o.room_only])


def _provider_occupancy(spec: AppointmentSpec, parallel: int, start: datetime, capacity: int,
                        overlapping: list[Occupancy]) -> tuple[int, int, int, str]:
    """(capacity left, booked, held, status) from the provider's own bookings."""
    if not overlapping:
        return capacity, 0, 0, "open"
    if spec.seats > 1:
        same = [o for o in overlapping if o.appointment_type_id == spec.id and o.session_start == start]
        others = [o for o in overlapping if o not in same]
        if _sessions(others) + 1 > parallel:
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
