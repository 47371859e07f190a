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
    config = {"CALENDAR_POLL_CALDAV_SECONDS": 300, "CALENDAR_POLL_ICS_SECONDS": 900}
    assert poll_interval("caldav", config) == FIVE
    assert poll_interval("ics", config) == timedelta(minutes=15)
    assert poll_interval("ics", config, override_seconds=2) == timedelta(seconds=2)


@pytest.mark.parametrize(("kind", "status", "last_success_ago", "expected"), [
    ("caldav", "ok", timedelta(minutes=4), "green"),
    ("caldav", "error", timedelta(minutes=6), "amber"),  # one failed try: not red yet
    ("caldav", "ok", timedelta(minutes=15, seconds=1), "red"),  # older than three poll intervals
    ("caldav", "pending", None, "amber"),
    ("ics", "error", timedelta(minutes=44), "amber"),
    ("ics", "error", timedelta(minutes=46), "red"),
    ("caldav", "reauth_required", timedelta(minutes=1), "red"),
    ("webhook", "ok", timedelta(days=30), "green"),
])
def test_badge(kind, status, last_success_ago, expected):
    interval = FIVE if kind == "caldav" else timedelta(minutes=15)
    last = NOW - last_success_ago if last_success_ago else None
    assert badge(kind=kind, status=status, last_success=last, created_at=NOW - timedelta(minutes=1),
                 interval=interval, now=NOW) == expected
