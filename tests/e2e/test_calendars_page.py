"""A clinician connects a CalDAV calendar (a real Radicale) on /provider/calendars and watches its
health turn green once a real RQ worker has synced it; the admin overview shows it too."""
from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone

import pytest
import redis
from playwright.sync_api import expect

from app import create_app
from app.demo_seed import DOMAIN, seed_demo
from app.extensions import db
from tests.calendar_servers import make_collection, put_event, radicale_server
from tests.conftest import _config
from tests.e2e.pages import new_page, signed_in
from tests.processes import free_port, process_env, spawn, stop, wait_until_serving

REDIS_DB = 12


@pytest.fixture
def calendar_site(browser, make_database, redis_url, test_root):
    """Its own gunicorn and RQ worker (the shared live server has no worker), allowed to reach 127.0.0.1."""
    queue_redis = redis_url + ("&" if "?" in redis_url else "?") + f"db={REDIS_DB}"
    redis.Redis.from_url(queue_redis).flushdb()
    database_url = make_database("sqlite")
    seeding = create_app(_config(database_url, queue_redis))
    with seeding.app_context():
        seed_demo()
        db.engine.dispose()
    env = process_env(database_url, queue_redis, CALENDAR_ALLOW_PRIVATE_URLS="true", MAIL_BACKEND="file")
    port = free_port()
    server = spawn([sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--threads", "4", "--workers", "1",
                    "--bind", f"127.0.0.1:{port}", "wsgi:app"], env, test_root / "calendar-site.log")
    worker = spawn([sys.executable, "-m", "workers.worker"], env, test_root / "calendar-worker.log")
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base_url + "/healthz", server, test_root / "calendar-site.log")
        yield base_url
    finally:
        stop(worker)
        stop(server)


def test_connecting_a_caldav_calendar_on_the_page_turns_its_health_green(browser, calendar_site):
    with radicale_server(username="weber", password="app-pw") as radicale:
        work = make_collection(radicale, "work", "Hospital")
        start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=3)
        put_event(radicale, work, "ward", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
                  f"UID:ward\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start:%Y%m%dT%H%M%SZ}\r\n"
                  f"DTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}\r\nSUMMARY:Ward\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        context = browser.new_context(base_url=calendar_site, viewport={"width": 1280, "height": 900})
        try:
            page = new_page(context)
            signed_in(page, f"weber@{DOMAIN}")
            page.get_by_role("link", name="Calendars").click()
            expect(page.locator("h1")).to_have_text("Calendars")
            expect(page.get_by_text("No calendars connected yet")).to_be_visible()
            page.get_by_label("Server address").fill(radicale.url + "/")
            page.get_by_label("User name").fill("weber")
            page.get_by_label("App password").fill("app-pw")
            page.get_by_label("Name (optional)").first.fill("Hospital account")
            page.get_by_role("button", name="Connect").click()
            expect(page.locator(".flash-success")).to_contain_text("Calendar connected")
            card = page.locator(".calendar-connection", has_text="Hospital account")
            # the worker syncs it; the badge polls and turns green, with the busy time counted
            expect(card.locator(".calendar-health")).to_have_attribute("data-health", "green", timeout=30_000)
            expect(card.locator(".busy-count")).to_have_text("1")
            page.reload()
            expect(card.get_by_label("Hospital blocks my time")).to_be_checked()
            assert "app-pw" not in page.content()
            # the admin overview lists it in green
            admin = new_page(browser.new_context(base_url=calendar_site))
            signed_in(admin, f"admin@{DOMAIN}")
            admin.goto("/admin/calendars")
            expect(admin.locator("#calendar-connections tr[data-health=green]")).to_contain_text("Dr. Anna Weber")
            admin.context.close()
        finally:
            context.close()
