"""Write-back exactly once: a real RQ worker is SIGKILLed at random points while it writes
bookings to a destination calendar, 20 times; afterwards every live booking is in the
calendar exactly once, at its current time, and nothing else Bookwell wrote is left.

Two destinations, each killed 20 times: a real Radicale server (CalDAV: conditional PUT/DELETE)
and the local fake of Google (events.insert with a derived id, 409 -> patch, delete). Each round
costs about two seconds of a booting worker, so running both destinations on both databases would
double the time; the write-back code is the same on either database and the database-specific part
(the lease, the link rows) is exercised by both. So Radicale runs on SQLite and Google on
PostgreSQL: every destination and every database is killed 20 times, in the time the Radicale-only
test took on two databases.
"""
from __future__ import annotations

import random
import sys
import time
import uuid
from collections import Counter
from contextlib import ExitStack, nullcontext
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import requests
from icalendar import Calendar
from sqlalchemy import select

from app import create_app
from app.booking import lifecycle
from app.booking.hold import Contact, hold
from app.calendars import connections
from app.calendars.jobs import sweep
from app.calendars.sync import sync_connection
from app.errors import BookwellError
from app.extensions import db
from app.models import AvailabilitySlot, Booking, CalendarEventLink, CalendarSource, utcnow
from tests.calendar_servers import list_events, make_collection, radicale_server
from tests.conftest import _config
from tests.google_fake import fake_google
from tests.integration.booking_helpers import load_clinic
from tests.integration.helpers import seed_demo_clinic
from tests.integration.test_notification_delivery import sigkill_worker
from tests.processes import process_env, spawn, stop

REDIS_DB = 11
ROUNDS = 20
GOOGLE_EMAIL = "weber.calendar@example.org"


def booking_ids(app) -> list[uuid.UUID]:
    with app.app_context():
        return list(db.session.scalars(select(Booking.id).where(Booking.provider_id == load_clinic().weber)))


@pytest.fixture(params=[pytest.param(("sqlite", "radicale"), id="sqlite-radicale"),
                        pytest.param(("postgresql", "google"), id="postgresql-google")])
def stack(request, make_database, redis_url, tmp_path, monkeypatch):
    backend, destination = request.param
    database_url = make_database(backend)
    queue_redis = redis_url + ("&" if "?" in redis_url else "?") + f"db={REDIS_DB}"
    client = redis.Redis.from_url(queue_redis)
    client.flushdb()
    with ExitStack() as servers:
        google = servers.enter_context(fake_google(GOOGLE_EMAIL)) if destination == "google" else None
        settings = {"CALENDAR_ALLOW_PRIVATE_URLS": True, "CALENDAR_LEASE_SECONDS": 2}
        if google is not None:
            settings.update(GOOGLE_CLIENT_ID=google.client_id, GOOGLE_CLIENT_SECRET=google.client_secret,
                            GOOGLE_AUTH_URL=f"{google.url}/o/oauth2/v2/auth", GOOGLE_TOKEN_URL=f"{google.url}/token",
                            GOOGLE_API_URL=google.url)
        app = create_app(_config(database_url, queue_redis), **settings)
        seed_demo_clinic(app, monkeypatch)
        env = process_env(database_url, queue_redis, MAIL_BACKEND="file",
                          **{key: str(value).lower() if isinstance(value, bool) else str(value)
                             for key, value in settings.items()})
        try:
            yield app, env, google
        finally:
            client.flushdb()
            client.close()
            with app.app_context():
                db.engine.dispose()


def change_something(rng: random.Random, clinic, live: list[uuid.UUID]) -> None:
    """Book, reschedule or cancel one of Dr. Weber's visits through the services."""
    desk = clinic.actor("frontdesk")
    slots = list(db.session.scalars(select(AvailabilitySlot.start_at).where(
        AvailabilitySlot.provider_id == clinic.weber, AvailabilitySlot.appointment_type_id == clinic.consult,
        AvailabilitySlot.start_at > utcnow() + timedelta(hours=3))
        .order_by(AvailabilitySlot.start_at).limit(60)))
    action = "book" if len(live) < 3 else rng.choice(["book", "reschedule", "reschedule", "cancel"])
    errors: list[str] = []
    for start in rng.sample(slots, min(10, len(slots))):
        try:
            if action == "book":
                result = hold(desk, contact=Contact(name="Kim Test", email="kim@example.org"),
                              provider_id=clinic.weber, appointment_type_id=clinic.consult, start=start,
                              source="staff")
                lifecycle.confirm(desk, result.booking.id, hold_token=result.hold_token)
                live.append(result.booking.id)
            elif action == "reschedule":
                lifecycle.reschedule(desk, rng.choice(live), start=start)
            else:
                booking_id = rng.choice(live)
                lifecycle.cancel(desk, booking_id, reason="test")
                live.remove(booking_id)
            return
        except BookwellError as error:
            errors.append(f"{error.code}: {error.message}")
            db.session.rollback()
    raise AssertionError(f"could not {action}: {errors} ({len(slots)} slots)")


def connect_google(google) -> uuid.UUID:
    """Through the services: the consent URL, the fake's approval, the callback's code exchange."""
    clinic = load_clinic()
    created = connections.create_connection(clinic.organization_id, clinic.weber, "google",
                                            redirect_uri="http://127.0.0.1/calendar/google/callback")
    back = requests.get(created.authorize_url, allow_redirects=False, timeout=10)
    answer = parse_qs(urlsplit(back.headers["Location"]).query)
    connections.finish_google(answer["state"][0], answer["code"][0], None)
    return created.connection.id


def written_events(radicale, work, google) -> list[tuple[str, datetime, int]]:
    """(uid, start, sequence) of every live event in the destination calendar."""
    if google is not None:
        return [(f"bookwell-{uuid.UUID(e['id'])}@bookwell",
                 datetime.fromisoformat(e["start"]["dateTime"].replace("Z", "+00:00")), e["sequence"])
                for e in google.live_events(GOOGLE_EMAIL).values()]
    events = [component for raw in list_events(radicale, work).values()
              for component in Calendar.from_ical(raw).walk("VEVENT")]
    return [(str(e["UID"]), e.decoded("DTSTART"), int(e["SEQUENCE"])) for e in events]


def test_a_worker_killed_at_random_points_during_write_back_leaves_each_event_exactly_once(stack, tmp_path):
    app, env, google = stack
    rng = random.Random(20261202)
    with radicale_server() if google is None else nullcontext() as radicale:
        work = make_collection(radicale, "work", "Work") if google is None else None
        with app.app_context():
            clinic = load_clinic()
            if google is None:
                connection_id = connections.create_connection(
                    clinic.organization_id, clinic.weber, "caldav", url=radicale.url + "/",
                    username=radicale.username, password=radicale.password).connection.id
            else:
                connection_id = connect_google(google)
            assert sync_connection(connection_id).startswith("ok")
            source = db.session.scalars(select(CalendarSource).where(
                CalendarSource.name == ("Work" if google is None else GOOGLE_EMAIL))).one()
            connections.update_calendars(clinic.organization_id, connection_id,
                                         [{"id": source.id, "is_destination": True}])
        live: list[uuid.UUID] = []
        kills = 0
        for round_number in range(ROUNDS):
            with app.app_context():
                for _ in range(rng.randint(1, 3)):
                    change_something(rng, load_clinic(), live)
                sweep()
            worker = spawn([sys.executable, "-m", "workers.worker"], env, tmp_path / f"worker-{round_number}.log")
            time.sleep(rng.uniform(0.8, 3.0))  # the worker boots in about a second; then it writes
            sigkill_worker(worker)
            kills += 1
        assert kills == ROUNDS

        final = spawn([sys.executable, "-m", "workers.worker"], env, tmp_path / "worker-final.log")
        try:
            deadline = time.monotonic() + 90
            while True:
                with app.app_context():
                    lagging = db.session.scalars(select(CalendarEventLink).where(
                        CalendarEventLink.applied_version < CalendarEventLink.desired_version)).all()
                    if not lagging:
                        break
                    sweep()  # what rq cron does every minute
                    db.session.remove()
                assert time.monotonic() < deadline, (tmp_path / "worker-final.log").read_text()[-3000:]
                time.sleep(0.5)
        finally:
            stop(final)

        events = written_events(radicale, work, google)
        with app.app_context():
            expected = {f"bookwell-{b.id}@bookwell": b for b in db.session.scalars(select(Booking).where(
                Booking.provider_id == load_clinic().weber, Booking.status.in_(("pending", "confirmed")),
                Booking.end_at > utcnow()))}
            uids = Counter(uid for uid, _, _ in events)
            duplicates = {uid: n for uid, n in uids.items() if n > 1}
            missing = set(expected) - set(uids)
            extra = set(uids) - set(expected)
            assert (duplicates, missing, extra) == ({}, set(), set())
            for uid, start, sequence in events:
                booking = expected[uid]
                assert start == booking.start_at
                assert sequence == booking.reschedule_count
            assert len(live) >= 3 and set(f"bookwell-{b}@bookwell" for b in live) <= set(expected)
        if google is not None:  # every event Google ever got (cancelled too) is one booking's: no stray ids
            assert set(google.calendars[GOOGLE_EMAIL]["events"]) <= {b.hex for b in booking_ids(app)}
