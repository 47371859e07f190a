"""The agenda's time grid: where each thing sits on a time axis (pure: no Flask, no SQLAlchemy).

Every column shows one local day in one zone. The axis is a list of hour rows of 60
minute rows each; a thing is drawn at the minute row of its start and spans the
minute rows up to its end, so position and height follow its local time and its
real duration.

DST. An hour row is keyed by (local hour, occurrence): a day whose clocks go
forward has no 02:00 row (23 rows for a whole day), a day whose clocks go back has
02:00 twice (25 rows), and an instant finds its row by its own local hour and fold.
A grid of several days (a week) takes the union of its days' rows; a column that
lacks a row of the axis (the skipped hour, or the repeated one on other days) shows
it as "no such hour". Within the shown hours everything therefore sits at its real
local time, and a visit keeps its real length.

What defines the shown hours: working hours, visits (with buffers), holds and
blocks; time off and external busy times are clipped to them, as they often span
whole days or nights.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.scheduling.wallclock import window_start

MINUTES = 60
SAMPLE = timedelta(minutes=15)  # finer than any real DST shift, to find a day's hour rows
DEFAULT_HOURS = (8, 18)
MIN_HOURS = 8
MIN_GAP = timedelta(minutes=15)
TICK = timedelta(microseconds=1)

#: kinds that shape the shown hours, are laid side by side when they overlap, or block free time
RANGE_KINDS = frozenset({"booking", "hold", "blocked", "away"})
LANE_KINDS = frozenset({"booking", "hold", "away"})
BUSY_KINDS = frozenset({"booking", "hold", "blocked", "time_off", "busy", "away"})

HourKey = tuple[int, int]  # (local hour, 0 or 1 for the second pass through a repeated hour)


@dataclass(frozen=True)
class Window:
    """Working time (breaks already cut out). `here` is False for hours at another location."""

    start: datetime
    end: datetime
    label: str = ""
    here: bool = True
    kind: str = "hours"  # hours | extra


@dataclass(frozen=True)
class Entry:
    """Something in a provider's time: booking, hold, blocked, time_off, time_off_pending, busy, away."""

    kind: str
    start: datetime
    end: datetime
    title: str = ""
    detail: str = ""
    status: str = ""
    block_start: datetime | None = None  # a visit's span with its buffers
    block_end: datetime | None = None
    ref: Any = None


@dataclass(frozen=True)
class ColumnInput:
    key: str
    title: str
    day: date
    subtitle: str = ""
    windows: tuple[Window, ...] = ()
    breaks: tuple[tuple[datetime, datetime], ...] = ()
    entries: tuple[Entry, ...] = ()
    bookable: Hashable | None = None  # set: free gaps in the hours here are offered for booking


@dataclass(frozen=True)
class HourRow:
    key: HourKey
    label: str
    row: int  # first minute row, 0-based


@dataclass(frozen=True)
class Placed:
    """One drawn thing: minute rows [row, row + span), lane `lane` of `lanes`."""

    kind: str
    row: int
    span: int
    start: datetime  # the drawn part (clipped to the day and the shown hours)
    end: datetime
    title: str = ""
    detail: str = ""
    times: str = ""
    status: str = ""
    lane: int = 0
    lanes: int = 1
    cut_before: bool = False
    cut_after: bool = False
    ref: Any = None


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    subtitle: str
    day: date
    placed: tuple[Placed, ...]
    now_row: int | None
    note: str = ""  # a DST day says so
    bookable: Hashable | None = None
    hour_starts: tuple[tuple[int, int], ...] = ()  # (epoch ms, minute row) of each hour, to move the now line


@dataclass(frozen=True)
class Grid:
    tz: str
    hours: tuple[HourRow, ...]
    columns: tuple[Column, ...]
    first_hour: int
    last_hour: int

    @property
    def minutes(self) -> int:
        return len(self.hours) * MINUTES


# --- days and hour rows ------------------------------------------------------------------------

@lru_cache(maxsize=2048)
def day_span(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a local day starts and ends (23, 24 or 25 hours apart)."""
    return window_start(day, time(0), tz), window_start(day + timedelta(days=1), time(0), tz)


def _key(instant: datetime, tz: ZoneInfo) -> HourKey:
    local = instant.astimezone(tz)
    return local.hour, local.fold


@lru_cache(maxsize=2048)
def day_hour_keys(day: date, tz: ZoneInfo) -> tuple[HourKey, ...]:
    """The hour rows a local day really has, in order (a DST day has 23 or 25)."""
    start, end = day_span(day, tz)
    keys: list[HourKey] = []
    at = start
    while at < end:
        key = _key(at, tz)
        if key not in keys:
            keys.append(key)
        at += SAMPLE
    return tuple(keys)


def _end_hour(instant: datetime, day: date, tz: ZoneInfo) -> int:
    local = instant.astimezone(tz)
    if local.date() > day:
        return 24
    return local.hour + (1 if (local.minute or local.second or local.microsecond) else 0)


def shown_hours(spans: Sequence[tuple[date, datetime, datetime]], tz: ZoneInfo,
                default: tuple[int, int] = DEFAULT_HOURS, minimum: int = MIN_HOURS) -> tuple[int, int]:
    """Whole local hours [first, last) covering these (day, start, end) spans, at least `minimum` long."""
    first, last = 24, 0
    for day, start, end in spans:
        day_start, day_end = day_span(day, tz)
        start, end = max(start, day_start), min(end, day_end)
        if end <= start:
            continue
        first = min(first, start.astimezone(tz).hour)
        last = max(last, _end_hour(end, day, tz))
    if first >= last:
        return default
    if last - first < minimum:
        last = min(24, first + minimum)
        first = max(0, last - minimum)
    return first, last


def hour_rows(days: Sequence[date], tz: ZoneInfo, first_hour: int, last_hour: int) -> tuple[HourRow, ...]:
    keys = sorted({k for day in days for k in day_hour_keys(day, tz) if first_hour <= k[0] < last_hour})
    return tuple(HourRow(k, f"{k[0]:02d}:00" + (" (again)" if k[1] else ""), i * MINUTES)
                 for i, k in enumerate(keys))


class DayAxis:
    """Maps instants of one column's day to minute rows of the shared axis."""

    def __init__(self, day: date, tz: ZoneInfo, hours: Sequence[HourRow], first_hour: int, last_hour: int):
        self.day, self.tz = day, tz
        self.index = {h.key: i for i, h in enumerate(hours)}
        self.day_start, self.day_end = day_span(day, tz)
        self.start = self.day_start if first_hour == 0 else max(self.day_start, window_start(day, time(first_hour), tz))
        self.end = self.day_end if last_hour >= 24 else min(self.day_end, window_start(day, time(last_hour), tz))
        own = set(day_hour_keys(day, tz))
        self.missing = [h for h in hours if h.key not in own]

    def row(self, instant: datetime) -> int:
        local = instant.astimezone(self.tz)
        return self.index[(local.hour, local.fold)] * MINUTES + local.minute

    def clip(self, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
        s, e = max(start, self.start), min(end, self.end)
        return (s, e) if e > s else None

    def rows(self, start: datetime, end: datetime) -> tuple[int, int]:
        """First minute row and span of an already clipped interval (an end mid-minute rounds up)."""
        first = self.row(start)
        return first, max(1, self.row(end - TICK) + 1 - first)

    def hour_starts(self) -> tuple[tuple[int, int], ...]:
        """(epoch milliseconds, first minute row) of every shown hour of this day."""
        out, seen, at = [], set(), self.start
        while at < self.end:
            local = at.astimezone(self.tz)
            key = (local.hour, local.fold)
            if local.minute == 0 and key not in seen:
                seen.add(key)
                out.append((int(at.timestamp() * 1000), self.index[key] * MINUTES))
            at += SAMPLE
        return tuple(out)

    def hhmm(self, instant: datetime) -> str:
        return instant.astimezone(self.tz).strftime("%H:%M")


# --- labels ------------------------------------------------------------------------------------

def span_label(start: datetime, end: datetime, day_start: datetime, day_end: datetime, tz: ZoneInfo) -> str:
    """Local times of an interval as seen on one day: 'All day', 'until 12:00', 'from 14:00', '09:00–10:00'."""
    def hhmm(instant: datetime) -> str:
        return instant.astimezone(tz).strftime("%H:%M")

    before, after = start <= day_start, end >= day_end
    if before and after:
        return "All day"
    if before:
        return f"until {hhmm(end)}"
    if after:
        return f"from {hhmm(start)}"
    return f"{hhmm(start)}–{hhmm(end)}"


def range_label(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """The local days an interval covers, e.g. '10–12 Dec' or '30 Nov–2 Dec'; '' within one day."""
    first, last = start.astimezone(tz), (end - TICK).astimezone(tz)
    if first.date() == last.date():
        return ""
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last.strftime('%b')}"
    return f"{first.day} {first.strftime('%b')}–{last.day} {last.strftime('%b')}"


# --- placing ----------------------------------------------------------------------------------

Span = tuple[datetime, datetime]


def _subtract(pieces: list[Span], cut: Span) -> list[Span]:
    out = []
    for start, end in pieces:
        if cut[1] <= start or cut[0] >= end:
            out.append((start, end))
            continue
        if cut[0] > start:
            out.append((start, cut[0]))
        if cut[1] < end:
            out.append((cut[1], end))
    return out


def free_gaps(windows: Sequence[Window], entries: Sequence[Entry], not_before: datetime,
              minimum: timedelta = MIN_GAP) -> list[tuple[datetime, datetime]]:
    """Working time here that nothing occupies, from `not_before` (rounded up to 5 minutes) on,
    at least `minimum` long."""
    step = 300
    not_before = datetime.fromtimestamp(-(-not_before.timestamp() // step) * step, tz=not_before.tzinfo)
    pieces = [(w.start, w.end) for w in windows if w.here]
    pieces = _subtract(pieces, (datetime.min.replace(tzinfo=not_before.tzinfo), not_before))
    for entry in entries:
        if entry.kind in BUSY_KINDS:
            pieces = _subtract(pieces, (entry.block_start or entry.start, entry.block_end or entry.end))
    return sorted((s, e) for s, e in pieces if e - s >= minimum)


def assign_lanes(items: list[Placed], spans: list[tuple[int, int]]) -> list[Placed]:
    """Side-by-side lanes for overlapping items (`spans`: their minute rows [start, end), buffers
    included). Items that overlap, directly or through others, share the width of their cluster."""
    order = sorted(range(len(items)), key=lambda i: (spans[i][0], -spans[i][1]))
    lane_of: dict[int, int] = {}
    width: dict[int, int] = {}
    cluster: list[int] = []
    ends: list[int] = []  # per lane: where its last item ends
    cluster_end = 0
    for i in order:
        start, end = spans[i]
        if cluster and start >= cluster_end:
            width.update((j, len(ends)) for j in cluster)
            cluster, ends = [], []
        lane = next((n for n, last in enumerate(ends) if last <= start), len(ends))
        if lane == len(ends):
            ends.append(end)
        else:
            ends[lane] = end
        lane_of[i] = lane
        cluster_end = max(cluster_end, end) if cluster else end
        cluster.append(i)
    width.update((j, len(ends)) for j in cluster)
    return [replace(item, lane=lane_of[i], lanes=width[i]) for i, item in enumerate(items)]


def _column(spec: ColumnInput, axis: DayAxis, now: datetime) -> Column:
    placed: list[Placed] = []

    def put(kind, start, end, **extra):
        clipped = axis.clip(start, end)
        if clipped is None:
            return None
        row, span = axis.rows(*clipped)
        item = Placed(kind, row, span, clipped[0], clipped[1], cut_before=clipped[0] > start,
                      cut_after=clipped[1] < end, **extra)
        placed.append(item)
        return item

    def on_day(start: datetime, end: datetime) -> str:
        return span_label(start, end, axis.day_start, axis.day_end, axis.tz)

    for missing in axis.missing:
        placed.append(Placed("nohour", missing.row, MINUTES, axis.start, axis.start, title="No such hour today"))
    for w in spec.windows:
        put(w.kind if w.here else "elsewhere", w.start, w.end, title=w.label, times=on_day(w.start, w.end))
    for start, end in spec.breaks:
        put("break", start, end, title="Break", times=on_day(start, end))
    for entry in spec.entries:
        if entry.kind in LANE_KINDS:
            continue
        put(entry.kind, entry.start, entry.end, title=entry.title, detail=entry.detail, status=entry.status,
            times=on_day(entry.start, entry.end), ref=entry.ref)
    if spec.bookable is not None:
        for start, end in free_gaps(spec.windows, spec.entries, now):
            put("free", start, end, title="Free", times=f"{axis.hhmm(start)}–{axis.hhmm(end)}")

    lane_items: list[Placed] = []
    lane_spans: list[tuple[int, int]] = []
    groups: list[list[Placed]] = []
    for entry in spec.entries:
        if entry.kind not in LANE_KINDS:
            continue
        outer = (entry.block_start or entry.start, entry.block_end or entry.end)
        clipped = axis.clip(*outer)
        if clipped is None:
            continue
        body = axis.clip(entry.start, entry.end)
        parts: list[Placed] = []
        if body is not None:
            row, span = axis.rows(*body)
            parts.append(Placed(entry.kind, row, span, body[0], body[1], title=entry.title, detail=entry.detail,
                                status=entry.status, ref=entry.ref, cut_before=body[0] > entry.start,
                                cut_after=body[1] < entry.end,
                                times=f"{axis.hhmm(entry.start)}–{axis.hhmm(entry.end)}"))
        for start, end in ((outer[0], entry.start), (entry.end, outer[1])):
            buffer = axis.clip(start, end)
            if buffer is not None:
                row, span = axis.rows(*buffer)
                parts.append(Placed("buffer", row, span, buffer[0], buffer[1], title="Buffer",
                                    times=f"{axis.hhmm(start)}–{axis.hhmm(end)}"))
        if not parts:
            continue
        row, span = axis.rows(*clipped)
        lane_items.append(parts[0])
        lane_spans.append((row, row + span))
        groups.append(parts)
    laned = assign_lanes(lane_items, lane_spans)
    for lead, parts in zip(laned, groups):
        placed.extend(replace(p, lane=lead.lane, lanes=lead.lanes) for p in parts)

    now_row = axis.row(now) if axis.start <= now < axis.end else None
    hours = (axis.day_end - axis.day_start) / timedelta(hours=1)
    note = ""
    if hours != 24:
        note = f"Clocks {'go forward' if hours < 24 else 'go back'}: a {hours:g}-hour day"
    return Column(spec.key, spec.title, spec.subtitle, spec.day, tuple(placed), now_row, note, spec.bookable,
                  axis.hour_starts() if now_row is not None else ())


def layout(columns: Sequence[ColumnInput], tz_name: str, now: datetime,
           hours: tuple[int, int] | None = None) -> Grid:
    """Place every column's windows, breaks and entries on one shared axis in `tz_name`."""
    tz = ZoneInfo(tz_name)
    if hours is None:
        spans = [(c.day, w.start, w.end) for c in columns for w in c.windows]
        spans += [(c.day, e.block_start or e.start, e.block_end or e.end)
                  for c in columns for e in c.entries if e.kind in RANGE_KINDS]
        hours = shown_hours(spans, tz)
    first, last = hours
    rows = hour_rows([c.day for c in columns], tz, first, last)
    placed = tuple(_column(c, DayAxis(c.day, tz, rows, first, last), now) for c in columns)
    return Grid(tz_name, rows, placed, first, last)


__all__ = ["ColumnInput", "Column", "Entry", "Grid", "HourRow", "Placed", "Window", "day_hour_keys", "day_span",
           "free_gaps", "layout", "range_label", "shown_hours", "span_label"]
