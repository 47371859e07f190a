"""Wall-clock local times to instants, with DST gaps and repeated hours made explicit.

A window [start, end) of local wall-clock time covers every real instant whose
local time falls in it. So:
- a start or end inside a DST gap (a local time that never happens) maps to
  the transition instant, the first moment the clock shows a later time: the
  gap shortens the window;
- in a repeated hour, a start maps to its first occurrence and an end to its
  last: the repeated hour lengthens the window and both real instants of, say,
  01:30 are offered.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

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
