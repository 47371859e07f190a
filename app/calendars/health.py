"""Sync health in plain terms: poll intervals, back-off, and the badge colour (pure)."""
from __future__ import annotations

from datetime import datetime, timedelta

MAX_BACKOFF = timedelta(hours=1)
FIRST_RETRY = timedelta(minutes=1)
RED_AFTER_FAILURES = 3  # nothing a person sees turns red before this many failures in a row


def poll_interval(kind: str, config: dict, override_seconds: int | None = None, *, pushed: bool = False
                  ) -> timedelta:
    """How long a connection waits between polls. `pushed`: a Google connection with a live push
    channel on every calendar that blocks time; polling is then only the fallback."""
    if override_seconds:
        return timedelta(seconds=override_seconds)
    if kind == "caldav":
        return timedelta(seconds=config.get("CALENDAR_POLL_CALDAV_SECONDS", 300))
    if kind == "ics":
        return timedelta(seconds=config.get("CALENDAR_POLL_ICS_SECONDS", 900))
    if kind == "google" and pushed:
        return timedelta(seconds=config.get("CALENDAR_POLL_GOOGLE_PUSHED_SECONDS", 1800))
    if kind == "google":
        return timedelta(seconds=config.get("CALENDAR_POLL_GOOGLE_SECONDS", 300))
    return timedelta(hours=24)  # webhook: pushed


def backoff(consecutive_failures: int, interval: timedelta) -> timedelta:
    """The wait before the next try: the poll interval, or 1, 2, 4, 8 ... minutes after
    consecutive failures, never more than an hour."""
    if consecutive_failures <= 0:
        return interval
    return min(MAX_BACKOFF, FIRST_RETRY * (2 ** min(consecutive_failures - 1, 10)))


def badge(*, kind: str, status: str, consecutive_failures: int, last_success: datetime | None,
          interval: timedelta, now: datetime) -> str:
    """`green` (working), `amber` (waiting for a sync or retrying), `red` (needs attention).

    Red only when the calendar refused the credentials or the last `RED_AFTER_FAILURES` tries
    all failed: one transient failure never turns red, however long the connection was quiet
    before (a worker that was down does not count as a failure). The failure itself is in the
    connection's `last_error`, in words.
    """
    if status == "reauth_required" or consecutive_failures >= RED_AFTER_FAILURES:
        return "red"
    if kind == "webhook":  # pushed: nothing to poll, a quiet stream is healthy
        return "green" if status != "error" else "amber"
    if status == "ok" and last_success is not None and now - last_success <= interval * 3:
        return "green"
    return "amber"  # new, retrying, or not synced for a while (the sweep will)


BADGE_WORDS = {"green": "In sync", "amber": "Waiting to sync", "red": "Needs attention"}
