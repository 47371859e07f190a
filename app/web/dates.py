"""Days typed into a page's address or form: one parser, so no page can be made to fail by a
date at the edge of the calendar (invariant 5, docs/invariants.md)."""
from __future__ import annotations

from datetime import date

from app.api.schemas import EARLIEST, LATEST  # the API's bounds: pages and API accept the same days


def parse_day(text: str | None) -> date:
    """`YYYY-MM-DD` within EARLIEST..LATEST; ValueError otherwise (the pages' own message follows).
    Days near the edge of Python's calendar (9999-12-31) would overflow the week and strip
    arithmetic the pages do around a chosen day."""
    day = date.fromisoformat(text or "")
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"{text!r} is outside {EARLIEST}..{LATEST}")
    return day
