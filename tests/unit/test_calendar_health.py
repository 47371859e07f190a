"""Sync health rules: back-off and the badge colour (app/calendars/health.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.calendars.health import backoff, badge, poll_interval

NOW = datetime(2027, 3, 1, 12, tzinfo=timezone.utc)
FIVE = timedelta(minutes=5)


@pytest.mark.parametrize(("failures", "expected"), [
    (0, FIVE), (1, timedelta(minutes=1)), (2, timedelta(minutes=2)), (3, timedelta(minutes=4)),
    (6, timedelta(minutes=32)), (7, timedelta(hours=1)), (30, timedelta(hours=1)),
])
def test_backoff_doubles_up_to_an_hour(failures, expected):
    assert backoff(failures, FIVE) == expected


def test_default_poll_intervals():
    config = {"CALENDAR_POLL_CALDAV_SECONDS": 300, "CALENDAR_POLL_ICS_SECONDS": 900,
              "CALENDAR_POLL_GOOGLE_SECONDS": 300, "CALENDAR_POLL_GOOGLE_PUSHED_SECONDS": 1800}
    assert poll_interval("caldav", config) == FIVE
    assert poll_interval("ics", config) == timedelta(minutes=15)
    assert poll_interval("ics", config, override_seconds=2) == timedelta(seconds=2)
    # Google: every 5 minutes, or every 30 with a live push channel on each blocking calendar
    assert poll_interval("google", config) == FIVE
    assert poll_interval("google", config, pushed=True) == timedelta(minutes=30)
    assert poll_interval("caldav", config, pushed=True) == FIVE  # only Google has push channels


@pytest.mark.parametrize(("kind", "status", "failures", "last_success_ago", "expected"), [
    ("caldav", "ok", 0, timedelta(minutes=4), "green"),
    ("caldav", "error", 1, timedelta(minutes=6), "amber"),  # one failed try: not red
    ("caldav", "error", 1, timedelta(days=3), "amber"),  # one failure after a long quiet period: not red
    ("google", "error", 2, timedelta(hours=5), "amber"),  # two in a row: still amber
    ("google", "error", 3, timedelta(minutes=10), "red"),  # three in a row: red
    ("caldav", "ok", 0, timedelta(minutes=15, seconds=1), "amber"),  # not synced for a while, nothing failed
    ("caldav", "pending", 0, None, "amber"),
    ("ics", "error", 2, timedelta(minutes=46), "amber"),
    ("caldav", "reauth_required", 1, timedelta(minutes=1), "red"),  # refused credentials: red at once
    ("webhook", "ok", 0, timedelta(days=30), "green"),
])
def test_badge(kind, status, failures, last_success_ago, expected):
    interval = FIVE if kind in ("caldav", "google") else timedelta(minutes=15)
    last = NOW - last_success_ago if last_success_ago else None
    assert badge(kind=kind, status=status, consecutive_failures=failures, last_success=last,
                 interval=interval, now=NOW) == expected
