"""Slot reads share their cache and sticky samples instead of writing a new Redis key per
request: an API client without a cookie keeps one sample, and a range that touches today
keys its cache by the minute, not by the microsecond of `now`."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from app.availability.reads import open_slots
from app.extensions import db
from app.models import AppointmentType, Provider, utcnow
from app.redis_client import get_redis
from tests.integration.api_helpers import next_monday
from tests.integration.helpers import seed_demo_clinic

BERLIN = "Europe/Berlin"


def _keys(app, pattern: str) -> set[bytes]:
    with app.app_context():
        return set(get_redis().scan_iter(pattern))


def test_an_api_client_without_a_cookie_keeps_one_sticky_sample(app, client, db_session, monkeypatch):
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        weber = next(p for p in db.session.query(Provider) if p.display_name.endswith("Weber"))
        consult = next(t for t in db.session.query(AppointmentType) if t.name == "General consultation")
    params = {"appointment_type_id": str(consult.id), "provider_id": str(weber.id),
              "date": (next_monday(BERLIN) + timedelta(days=1)).isoformat()}
    before = _keys(app, "bookwell:exposure:*")
    answers = []
    for _ in range(3):
        client.delete_cookie("session")
        response = client.get("/api/v1/slots", query_string=params, headers={"User-Agent": "curl/8"})
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers  # nothing minted for a client that keeps no cookies
        answers.append([s["id"] for s in response.get_json()["slots"]])
    assert answers[0] and answers[0] == answers[1] == answers[2]
    assert len(_keys(app, "bookwell:exposure:*") - before) == 1


def test_reads_of_a_range_touching_today_share_one_cache_entry_within_a_minute(app, db_session, monkeypatch):
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        weber = next(p for p in db.session.query(Provider) if p.display_name.endswith("Weber"))
        consult = next(t for t in db.session.query(AppointmentType) if t.name == "General consultation")
        today = utcnow().astimezone(ZoneInfo(BERLIN)).date()
        start = utcnow().replace(second=5, microsecond=123456)
        before = _keys(app, "bookwell:slots:open:*")
        first = open_slots(consult, [weber], today, today + timedelta(days=6), ZoneInfo(BERLIN), now=start)
        second = open_slots(consult, [weber], today, today + timedelta(days=6), ZoneInfo(BERLIN),
                            now=start + timedelta(seconds=40, microseconds=7))
        assert first and [s.start for s in first] == [s.start for s in second]
        assert len(_keys(app, "bookwell:slots:open:*") - before) == 1
        # The exact notice still applies: nothing starts before now + the type's minimum notice.
        assert min(s.start for s in second) >= start + timedelta(seconds=40) + timedelta(
            minutes=consult.min_notice_minutes)
