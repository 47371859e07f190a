"""One live server (gunicorn, the production server) for the whole browser suite,
on a real SQLite database seeded with the demo clinic, and one Chromium."""
from __future__ import annotations

import os
import sys
import uuid

import pytest

from app import create_app
from app.demo_seed import seed_demo
from app.extensions import db
from tests.conftest import _config
from tests.e2e.browser import chromium_path, launch_chromium
from tests.processes import free_port, process_env, spawn, stop, wait_until_serving
from tests.smtp_sink import SmtpSink

REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="session")
def live_database(make_database, redis_url) -> str:
    """The live server's SQLite database, seeded with the demo clinic (workers share it)."""
    database_url = make_database("sqlite")
    seeding_app = create_app(_config(database_url, redis_url))
    with seeding_app.app_context():
        seed_demo()
        db.engine.dispose()
    return database_url


@pytest.fixture(scope="session")
def live_server(live_database, redis_url, test_root):
    database_url = live_database
    port = free_port()
    log = test_root / "live-server.log"
    server = spawn(
        [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--threads", "8", "--workers", "2",
         "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        # Every browser of the suite is one address (127.0.0.1): give the page forms room.
        process_env(database_url, redis_url, LOG_LEVEL="INFO", RATELIMIT_PAGE_BOOKINGS="300/minute"), log,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base_url + "/healthz", server, log)
        yield base_url
    finally:
        stop(server)


@pytest.fixture(scope="module")
def mail_worker(live_server, live_database, redis_url, test_root):
    """The real SMTP sink and an RQ worker sending the live server's account emails to it,
    with links to the live server. Per module: the worker must be gone before the
    integration tests, which run the same queue's jobs themselves (account_helpers.Outbox)."""
    with SmtpSink() as sink:
        env = process_env(live_database, redis_url, MAIL_BACKEND="smtp", SMTP_HOST=sink.host,
                          SMTP_PORT=str(sink.port), SMTP_STARTTLS="false", PUBLIC_URL=live_server)
        log = test_root / f"e2e-worker-{uuid.uuid4().hex[:6]}.log"
        worker = spawn([sys.executable, "-m", "workers.worker", "bookwell-high"], env, log)
        try:
            yield sink
        finally:
            stop(worker)


@pytest.fixture(scope="session")
def browser():
    if chromium_path() is None:
        if REQUIRE_BROWSER:
            pytest.fail("REQUIRE_BROWSER=1 but Chromium is not installed (apt-get install chromium)", pytrace=False)
        pytest.skip("Chromium not installed; `make test` installs it when run as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = launch_chromium(playwright)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


@pytest.fixture
def berlin_context(browser, live_server):
    """Factory: a browser context (its own cookies) in Berlin that already told the server its
    time zone (the bw_tz cookie bookwell.js would set), so a first page does not refetch
    itself. Every context is closed after the test, whatever happened."""
    opened = []

    def make():
        context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900},
                                      timezone_id="Europe/Berlin")
        context.add_cookies([{"name": "bw_tz", "value": "Europe%2FBerlin", "url": live_server}])
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


@pytest.fixture
def berlin_page(berlin_context):
    """Factory: a page in a new Berlin context."""
    from tests.e2e.pages import new_page

    return lambda: new_page(berlin_context())
