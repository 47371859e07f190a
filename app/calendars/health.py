"""Sync health in plain terms: poll intervals, back-off, and the badge colour (pure)."""
from __future__ import annotations

from datetime import datetime, timedelta

MAX_BACKOFF = timedelta(hours=1)
FIRST_RETRY = timedelta(minutes=1)
STALE_INTERVALS = 3  # red when the last success is older than three poll intervals


def poll_interval(kind: str, config: dict, override_seconds: int | None = None) -> timedelta:
    if override_seconds:
        return timedelta(seconds=override_seconds)
    if kind == "caldav":
        return timedelta(seconds=config.get("CALENDAR_POLL_CALDAV_SECONDS", 300))
    if kind == "ics":
        return timedelta(seconds=config.get("CALENDAR_POLL_ICS_SECONDS", 900))
    if kind == "google":
        return timedelta(seconds=config.get("CALENDAR_POLL_GOOGLE_SECONDS", 300))
    return timedelta(hours=24)  # webhook: pushed


def backoff(consecutive_failures: int, interval: timedelta) -> timedelta:
    """The wait before the next try: the poll interval, or 1, 2, 4, 8 ... minutes after
    consecutive failures, never more than an hour."""
    if consecutive_failures <= 0:
        return interval
    return min(MAX_BACKOFF, FIRST_RETRY * (2 ** min(consecutive_failures - 1, 10)))


def badge(*, kind: str, status: str, last_success: datetime | None, created_at: datetime,
          interval: timedelta, now: datetime) -> str:
    """`green` (working), `amber` (waiting for a first sync or retrying), `red` (needs attention)."""
    if status == "reauth_required":
        return "red"
    if kind == "webhook":  # pushed: nothing to poll, a quiet stream is healthy
        return "green" if status != "error" else "amber"
    reference = last_success or created_at
    if now - reference > interval * STALE_INTERVALS:
        return "red"
    if status == "ok":
        return "green"
    return "amber"


BADGE_WORDS = {"green": "In sync", "amber": "Waiting to sync", "red": "Needs attention"}
