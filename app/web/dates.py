"""Days typed into a page's address or form: one parser, so no page can be made to fail by a
date at the edge of the calendar (invariant 5, docs/invariants.md)."""
from __future__ import annotations

from datetime import date

FIRST, LAST = date(1971, 1, 1), date(2999, 12, 31)  # the API's bounds for instants, in days


def parse_day(text: str | None) -> date:
    """`YYYY-MM-DD` within FIRST..LAST; ValueError otherwise (the pages' own message follows).
    Days near the edge of Python's calendar (9999-12-31) would overflow the week and strip
    arithmetic the pages do around a chosen day."""
    day = date.fromisoformat(text or "")
    if not FIRST <= day <= LAST:
        raise ValueError(f"{text!r} is outside {FIRST}..{LAST}")
    return day
