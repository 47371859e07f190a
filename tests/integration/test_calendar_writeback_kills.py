"""Write-back exactly once: a real RQ worker is SIGKILLed at random points while it writes
bookings to a real Radicale server, 20 times; afterwards every live booking is in the
calendar exactly once, at its current time, and nothing else Bookwell wrote is left."""
from __future__ import annotations

import random
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
import redis
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
from tests.integration.booking_helpers import load_clinic
from tests.integration.helpers import seed_demo_clinic
from tests.integration.test_notification_delivery import sigkill_worker
from tests.processes import process_env, spawn, stop

REDIS_DB = 11
ROUNDS = 20


@pytest.fixture
def stack(fresh_database_url, redis_url, tmp_path, monkeypatch):
    queue_redis = redis_url + ("&" if "?" in redis_url else "?") + f"db={REDIS_DB}"
    client = redis.Redis.from_url(queue_redis)
    client.flushdb()
    app = create_app(_config(fresh_database_url, queue_redis), CALENDAR_ALLOW_PRIVATE_URLS=True,
                     CALENDAR_LEASE_SECONDS=2)
    seed_demo_clinic(app, monkeypatch)
    env = process_env(fresh_database_url, queue_redis, CALENDAR_ALLOW_PRIVATE_URLS="true", CALENDAR_LEASE_SECONDS="2",
                      MAIL_BACKEND="file")
    try:
        yield app, env
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


def test_a_worker_killed_at_random_points_during_write_back_leaves_each_event_exactly_once(stack, tmp_path):
    app, env = stack
    rng = random.Random(20261202)
    with radicale_server() as radicale:
        work = make_collection(radicale, "work", "Work")
        with app.app_context():
            clinic = load_clinic()
            created = connections.create_connection(
                clinic.organization_id, clinic.weber, "caldav", url=radicale.url + "/",
                username=radicale.username, password=radicale.password)
            connection_id = created.connection.id
            assert sync_connection(connection_id).startswith("ok")
            source = db.session.scalars(select(CalendarSource).where(CalendarSource.name == "Work")).one()
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

        events = [component for raw in list_events(radicale, work).values()
                  for component in Calendar.from_ical(raw).walk("VEVENT")]
        with app.app_context():
            expected = {f"bookwell-{b.id}@bookwell": b for b in db.session.scalars(select(Booking).where(
                Booking.provider_id == load_clinic().weber, Booking.status.in_(("pending", "confirmed")),
                Booking.end_at > utcnow()))}
            uids = Counter(str(e["UID"]) for e in events)
            duplicates = {uid: n for uid, n in uids.items() if n > 1}
            missing = set(expected) - set(uids)
            extra = set(uids) - set(expected)
            assert (duplicates, missing, extra) == ({}, set(), set())
            for component in events:
                booking = expected[str(component["UID"])]
                assert component.decoded("DTSTART") == booking.start_at
                assert int(component["SEQUENCE"]) == booking.reschedule_count
            assert len(live) >= 3 and set(f"bookwell-{b}@bookwell" for b in live) <= set(expected)
