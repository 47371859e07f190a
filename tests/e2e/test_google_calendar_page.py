"""A clinician connects Google Calendar on /provider/calendars against the local fake of Google:
consent (approved at once), the callback, a real RQ worker's first sync, the badge turns green.
Then push: the worker opened a channel on the calendar (GOOGLE_PUSH_URL points at this server);
an event added in the fake is POSTed as a notice, the receiver queues a sync, and the slot it
covers leaves the provider's slots -- without "Sync now" and without any poll coming due."""
from __future__ import annotations

import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import redis
import requests
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from app import create_app
from app.demo_seed import DOMAIN, seed_demo
from app.extensions import db
from tests.conftest import _config
from tests.e2e.pages import new_page, signed_in
from tests.google_fake import fake_google
from tests.processes import free_port, process_env, spawn, stop, wait_until_serving

REDIS_DB = 13
EMAIL = "weber@example.org"


@pytest.fixture
def google_site(browser, make_database, redis_url, test_root):
    """Its own gunicorn and RQ worker pointed at the fake Google."""
    queue_redis = redis_url + ("&" if "?" in redis_url else "?") + f"db={REDIS_DB}"
    redis.Redis.from_url(queue_redis).flushdb()
    database_url = make_database("sqlite")
    seeding = create_app(_config(database_url, queue_redis))
    with seeding.app_context():
        seed_demo()
        db.engine.dispose()
    with fake_google(EMAIL) as fake:
        port = free_port()
        env = process_env(database_url, queue_redis, CALENDAR_ALLOW_PRIVATE_URLS="true", MAIL_BACKEND="file",
                          GOOGLE_CLIENT_ID=fake.client_id, GOOGLE_CLIENT_SECRET=fake.client_secret,
                          GOOGLE_AUTH_URL=f"{fake.url}/o/oauth2/v2/auth", GOOGLE_TOKEN_URL=f"{fake.url}/token",
                          GOOGLE_API_URL=fake.url,
                          GOOGLE_PUSH_URL=f"http://127.0.0.1:{port}/calendar/google/push")
        server = spawn([sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--threads", "4",
                        "--workers", "1", "--bind", f"127.0.0.1:{port}", "wsgi:app"], env,
                       test_root / "google-site.log")
        worker = spawn([sys.executable, "-m", "workers.worker"], env, test_root / "google-worker.log")
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(base_url + "/healthz", server, test_root / "google-site.log")
            yield base_url, fake, database_url
        finally:
            stop(worker)
            stop(server)


def test_connecting_google_on_the_page_turns_its_health_green(browser, google_site, test_root):
    base_url, fake, database_url = google_site
    start = datetime.now(timezone.utc).replace(microsecond=0, second=0, minute=0) + timedelta(days=3)
    fake.add_event(EMAIL, {"id": "ward", "start": {"dateTime": start.isoformat()},
                           "end": {"dateTime": (start + timedelta(hours=1)).isoformat()}})
    for width in (1280, 390):
        context = browser.new_context(base_url=base_url, viewport={"width": width, "height": 900})
        try:
            page = new_page(context)
            signed_in(page, f"weber@{DOMAIN}")
            page.goto("/provider/calendars")
            if width == 1280:
                page.get_by_role("button", name="Connect Google Calendar").click()
                expect(page.locator(".flash-success")).to_contain_text("Google Calendar connected")
            card = page.locator(".calendar-connection", has_text="Google Calendar")
            expect(card.locator(".calendar-health")).to_have_attribute("data-health", "green", timeout=30_000)
            expect(card.locator(".busy-count")).to_have_text("1")
            page.reload()
            expect(card.get_by_label(f"{EMAIL} blocks my time")).to_be_checked()
            if width == 1280:  # the provider picks where bookings go
                card.get_by_label(f"New bookings go to {EMAIL}").check()
                card.get_by_role("button", name="Save choice").click()
                expect(page.locator(".flash-success")).to_contain_text("Saved")
                expect(card.get_by_label(f"New bookings go to {EMAIL}")).to_be_checked()
            assert fake.refresh_tokens and not any(t in page.content() for t in fake.refresh_tokens)
            page.screenshot(path=str(test_root / f"google-calendars-{width}.png"), full_page=True)
        finally:
            context.close()
    assert ("GET", f"/calendar/v3/calendars/{EMAIL}/events") in fake.log

    # push: the first sync opened a channel on the calendar and Google's handshake was accepted
    fake.wait_for_delivery(lambda d: d["state"] == "sync" and d["status"] == 200
                           and fake.channels[d["channel"]]["calendar"] == EMAIL)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            provider_id, type_id = connection.execute(text(
                "SELECT c.provider_id, tp.appointment_type_id FROM calendar_connections c "
                "JOIN appointment_type_providers tp ON tp.provider_id = c.provider_id "
                "WHERE c.kind = 'google' ORDER BY tp.appointment_type_id LIMIT 1")).one()
    finally:
        engine.dispose()
    slots_url = f"{base_url}/api/v1/slots"

    def open_starts(day: str) -> set[str]:
        answer = requests.get(slots_url, params={"provider_id": str(uuid.UUID(str(provider_id))),
                                                 "appointment_type_id": str(uuid.UUID(str(type_id))), "date": day},
                              headers={"X-Exposure-Variant": "all"}, timeout=10)
        assert answer.status_code == 200, answer.text
        return {s["start"] for s in answer.json()["slots"]}

    day = (datetime.now(timezone.utc) + timedelta(days=2)).date()
    while not open_starts(day.isoformat()):
        day += timedelta(days=1)
    target = sorted(open_starts(day.isoformat()))[0]
    begin = datetime.fromisoformat(target.replace("Z", "+00:00"))
    fake.add_event(EMAIL, {"id": "pushed", "start": {"dateTime": begin.isoformat()},
                           "end": {"dateTime": (begin + timedelta(minutes=30)).isoformat()}})
    fake.wait_for_delivery(lambda d: d["state"] == "exists" and d["status"] == 200)
    deadline = time.monotonic() + 30  # the worker syncs the connection the notice queued
    while target in open_starts(day.isoformat()):
        assert time.monotonic() < deadline, (test_root / "google-worker.log").read_text()[-3000:]
        time.sleep(0.2)
