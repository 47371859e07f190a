"""Screenshots of every page, per role, at desktop and phone width, for a human to look at.

    .venv/bin/python scripts/screenshots.py [OUT_DIR] [--only SUBSTRING]

Starts its own gunicorn on a fresh SQLite database seeded with the demo clinic and
an embedded Redis (as the browser tests do), signs in as each demo user and writes
<role>-<page>-<desktop|phone>.png into OUT_DIR (default: screenshots/, git-ignored).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import create_app, embedded_redis  # noqa: E402
from app.demo_seed import DEMO_PASSWORD, DOMAIN, seed_demo, seed_demo_week  # noqa: E402
from app.extensions import db  # noqa: E402
from tests.conftest import _config, _upgrade  # noqa: E402
from tests.e2e.browser import launch_chromium  # noqa: E402
from tests.processes import free_port, process_env, spawn, stop, wait_until_serving  # noqa: E402

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


def _next(weekday: int) -> str:
    """The next Berlin ISO weekday after today (the demo seeds its visits on those days)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    return (today + timedelta(days=(weekday - today.isoweekday()) % 7 or 7)).isoformat()


PAGES = {
    None: [("home", "/"), ("book", "/book"), ("sign-in", "/auth/login"), ("register", "/auth/register"),
           ("acct-forgot", "/auth/forgot"), ("acct-check-email", "/auth/check-email?about=reset"),
           ("acct-bad-link", "/auth/reset/not-a-token"), ("acct-org-portal", "/o/demo/"),
           ("book-edge-date", "/book?date=9999-12-31")],
    "patient": [("home", "/"), ("appointments", "/appointments"), ("profile", "/profile"), ("book", "/book"),
                ("acct-account", "/auth/account"), ("book-edge-date", "/book?date=0001-01-01"),
                ("reschedule", "/appointments/{weber_visit}/reschedule")],
    "fischer": [("agenda-day", "/provider/"), ("agenda-week", "/provider/?view=week"),
                ("agenda-day-busy", f"/provider/?date={_next(3)}"),
                ("agenda-week-ahead", f"/provider/?view=week&date={_next(3)}"),
                ("agenda-day-list", f"/provider/?date={_next(3)}&layout=list"),
                ("agenda-list", "/provider/?view=list"), ("hours", "/provider/hours"),
                ("insights", "/provider/insights"), ("calendars", "/provider/calendars"),
                ("agenda-edge-date", "/provider/?date=0001-01-01"),
                ("agenda-week-edge-date", "/provider/?view=week&date=9999-12-31")],
    "frontdesk": [("queue", "/frontdesk/"), ("day", "/frontdesk/day"), ("book", "/frontdesk/book"),
                  ("day-ahead", f"/frontdesk/day?date={_next(3)}"),
                  ("day-ahead-list", f"/frontdesk/day?date={_next(3)}&layout=list"),
                  ("day-edge-date", "/frontdesk/day?date=9999-12-31"), ("book-edge-date", "/frontdesk/book?date=9999-12-31"),
                  ("patients", "/frontdesk/patients?q=030+1234"), ("patients-name", "/frontdesk/patients?q=an"),
                  ("patient", "/frontdesk/patients/{paula}"), ("guest", "/frontdesk/patients/guest/{tomasz}"),
                  ("booking", "/staff/bookings/{weber_visit}"), ("cancel", "/staff/bookings/{weber_visit}/cancel"),
                  ("reschedule", "/staff/bookings/{weber_visit}/reschedule"),
                  ("reschedule-other-place", "/staff/bookings/{weber_visit}/reschedule?provider_id={chen}"),
                  ("book-times-dropped", "/frontdesk/book/times?patient={paula}&appointment_type_id={consult}"
                                         "&location_id={nyc}&provider_id={weber}")],
    "weber": [("blocks", "/provider/blocks"), ("time-off", "/provider/time-off"),
              ("booking", "/staff/bookings/{weber_visit}")],
    "rivera": [("time-off", "/provider/time-off")],
    "manager": [("provider-hours", "/admin/providers/{weber}/hours")],
    "admin": [("clinic", "/admin/"), ("time-off", "/admin/time-off"), ("calendars", "/admin/calendars"),
              ("locations", "/admin/locations"),
              ("providers", "/admin/providers"), ("types", "/admin/appointment-types"), ("users", "/admin/users"),
              ("settings", "/admin/settings"), ("new-provider", "/admin/providers/new"),
              ("new-type", "/admin/appointment-types/new"), ("new-user", "/admin/users/new")],
}


def demo_ids() -> dict[str, str]:
    """Ids for the pages of one patient, guest, visit and provider of the demo week."""
    from sqlalchemy import select

    from app.models import Booking, Provider, User

    paula = db.session.scalars(select(User).where(User.full_name == "Paula Patient")).one()
    weber = db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Anna Weber")).one()
    from app.models import AppointmentType, Location

    chen = db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Maya Chen")).one()
    consult = db.session.scalars(select(AppointmentType).where(AppointmentType.name == "General consultation")).one()
    nyc = db.session.scalars(select(Location).where(Location.timezone == "America/New_York")).one()
    return {"paula": str(paula.id), "weber": str(weber.id), "chen": str(chen.id), "consult": str(consult.id),
            "nyc": str(nyc.id),
            "tomasz": str(db.session.scalars(select(Booking.id).where(Booking.guest_name == "Tomasz Nowak")).first()),
            "weber_visit": str(db.session.scalars(select(Booking.id).where(
                Booking.provider_id == weber.id, Booking.patient_id == paula.id, Booking.status == "confirmed")
                .order_by(Booking.start_at)).first())}


def serve(work: Path) -> tuple[str, object, str, dict[str, str]]:
    redis_url = embedded_redis.ensure_running(work / "redis")
    database_url = f"sqlite:///{work / 'shots.sqlite3'}"
    _upgrade(database_url)
    seeding = create_app(_config(database_url, redis_url))
    with seeding.app_context():
        seed_demo()
        seed_demo_week()
        ids = demo_ids()
        from app import account_tokens
        from app.accounts import find_user_by_email

        olivia = find_user_by_email(f"olivia@{DOMAIN}")  # the set-password page needs a real link
        PAGES[None].append(("acct-set-password", f"/auth/reset/{account_tokens.make(olivia, 'reset')}"))
        db.engine.dispose()
    port = free_port()
    log = work / "server.log"
    server = spawn([sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--threads", "8", "--workers", "1",
                    "--bind", f"127.0.0.1:{port}", "--no-control-socket", "wsgi:app"],
                   process_env(database_url, redis_url), log)
    base_url = f"http://127.0.0.1:{port}"
    wait_until_serving(base_url + "/healthz", server, log)
    return base_url, server, redis_url, ids


def main() -> None:
    args = sys.argv[1:]
    only = args[args.index("--only") + 1] if "--only" in args else ""
    positional = [a for i, a in enumerate(args) if not a.startswith("--") and (i == 0 or args[i - 1] != "--only")]
    out = Path(positional[0] if positional else ROOT / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bookwell-shots-"))
    base_url, server, _, ids = serve(work)
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            for who, pages in PAGES.items():
                for width, (w, h) in WIDTHS.items():
                    context = browser.new_context(base_url=base_url, viewport={"width": w, "height": h},
                                                  timezone_id="Europe/Berlin", locale="en-GB")
                    tab = context.new_page()
                    if who:
                        tab.goto("/auth/login")
                        tab.fill("input[name=email]", f"{who}@{DOMAIN}")
                        tab.fill("input[name=password]", DEMO_PASSWORD)
                        tab.click("button[type=submit]")
                        tab.wait_for_load_state("networkidle")
                    for name, path in pages:
                        target = out / f"{who or 'guest'}-{name}-{width}.png"
                        if only and only not in target.name:
                            continue
                        response = tab.goto(path.format(**ids))
                        tab.wait_for_load_state("networkidle")
                        tab.screenshot(path=str(target), full_page=True)
                        print(f"{response.status if response else '?'} {path} -> {target}")
                    context.close()
            browser.close()
    finally:
        stop(server)
        embedded_redis.stop(work / "redis")


if __name__ == "__main__":
    main()
