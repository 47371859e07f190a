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


def _instant_if_exists(local: datetime) -> datetime | None:
    """`local` in UTC if it survives a round trip through UTC (so is not in a gap), else None.

    One conversion serves both the check and the answer. Two datetimes with the same tzinfo
    object compare by their wall-clock fields alone (fold and offset ignored), which is the
    round-trip test without stripping the zone from both.
    """
    instant = local.astimezone(UTC)
    back = instant.astimezone(local.tzinfo)
    if back.tzinfo is local.tzinfo:
        return instant if back == local else None
    return instant if back.replace(tzinfo=None) == local.replace(tzinfo=None) else None


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
    local = datetime.combine(day, wall, tzinfo=tz)
    if local.fold:
        local = local.replace(fold=0)
    instant = _instant_if_exists(local)
    return _first_instant_at_or_after(day, wall, tz) if instant is None else instant


def window_end(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The instant a window ending at `wall` ends: the last occurrence in a repeated hour."""
    local = datetime.combine(day, wall, tzinfo=tz)
    if not local.fold:
        local = local.replace(fold=1)
    instant = _instant_if_exists(local)
    return _first_instant_at_or_after(day, wall, tz) if instant is None else instant


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()
