"""Notifications end to end with real processes, on SQLite and PostgreSQL: booking changes
made through the services in this process publish their events to the real Redis, a
real RQ worker process (`python -m workers.worker`) turns them into messages and sends
email over SMTP to an aiosmtpd server on loopback (tests/smtp_sink.py) and texts to
files. Proven here:

- a booking's lifecycle produces exactly the expected messages, once each, with
  calendar invites the icalendar parser reads back;
- a worker SIGKILLed in the middle of an SMTP conversation loses nothing and sends
  nothing twice: its lease runs out, the sweep re-enqueues, a new worker sends;
- with SMTP down, attempts fail and are put back with a backoff; once the server is
  back and the backoff has passed ("time passes": scheduled_for is moved to now), the
  sweep sends every message exactly once.

Each test has a Redis database of its own, so no queue of another test mixes in.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import redis
from sqlalchemy import select

from app import create_app
from app.booking import lifecycle
from app.booking.hold import hold
from app.demo_seed import DOMAIN
from app.events import sent_mark
from app.extensions import db
from app.models import Booking, BookingEvent, Notification, PatientProfile, User, utcnow
from app.redis_client import get_redis
from tests.conftest import _config
from tests.integration.booking_helpers import at, day_ahead, load_clinic
from tests.integration.helpers import seed_demo_clinic
from tests.processes import free_port, process_env, spawn, stop
from tests.smtp_sink import Received, SmtpSink
from workers.jobs import sweep_notifications

PATIENT = f"patient@{DOMAIN}"
WEBER = f"weber@{DOMAIN}"
BERLIN = ZoneInfo("Europe/Berlin")
LEASE_SECONDS = 3
SETTLE_SECONDS = 1.5  # after the last expected message: time for a duplicate to show up
# A Redis database number per test (test_workers.py uses 5), so no queue of another test mixes in.
REDIS_DB = {
    "test_a_booking_lifecycle_through_a_real_worker_sends_each_expected_message_once": 6,
    "test_a_worker_killed_mid_send_loses_nothing_and_a_new_worker_sends_each_message_once": 7,
    "test_with_smtp_down_messages_are_retried_and_all_go_out_once_when_it_returns": 8,
}


@dataclass
class Stack:
    """One fresh database with the demo clinic, a Redis database, and how to start workers."""

    database_url: str
    redis_url: str
    app: object
    tmp: Path
    workers: list
    _env: dict | None = None

    def env(self, smtp_port: int) -> dict[str, str]:
        if self._env is None:  # one instance folder for all of this test's workers
            self._env = process_env(self.database_url, self.redis_url, MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1",
                                    SMTP_PORT=str(smtp_port), SMTP_STARTTLS="false", SMTP_USERNAME="",
                                    SMS_BACKEND="file", NOTIFICATION_LEASE_SECONDS=str(LEASE_SECONDS),
                                    REMINDER_OFFSETS_MINUTES="1440,120")
        return self._env

    @property
    def sms_folder(self) -> Path:
        return Path(self._env["BOOKWELL_INSTANCE_PATH"]) / "sms"

    def start_worker(self, smtp_port: int) -> subprocess.Popen:
        log = self.tmp / f"worker-{len(self.workers) + 1}.log"
        worker = spawn([sys.executable, "-m", "workers.worker"], self.env(smtp_port), log)
        worker.log = log
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(f"--- {w.log.name} (exit {w.poll()}):\n{w.log.read_text()[-2500:]}" for w in self.workers)

    def wait(self, predicate, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self.app.app_context():
                if predicate():
                    return
            if time.monotonic() > deadline:
                with self.app.app_context():
                    state = [(r.template, r.channel, r.status, r.attempts, r.error) for r in notifications()]
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; rows: {state}\n{self.logs()}")
            time.sleep(0.1)


@pytest.fixture
def stack(request, fresh_database_url, redis_url, tmp_path, monkeypatch):
    number = REDIS_DB[request.function.__name__]
    queue_redis = redis_url + ("&" if "?" in redis_url else "?") + f"db={number}"
    client = redis.Redis.from_url(queue_redis)
    client.flushdb()  # this test's own Redis database: nothing left over from an earlier run
    app = create_app(_config(fresh_database_url, queue_redis))
    seed_demo_clinic(app, monkeypatch)
    result = Stack(fresh_database_url, queue_redis, app, tmp_path, [])
    try:
        yield result
    finally:
        for worker in result.workers:
            stop(worker)
        if result._env is not None:
            shutil.rmtree(result._env["BOOKWELL_INSTANCE_PATH"], ignore_errors=True)
        client.flushdb()
        client.close()
        with app.app_context():
            db.engine.dispose()


# --- helpers -----------------------------------------------------------------------------------------

def notifications(**where) -> list[Notification]:
    query = select(Notification).order_by(Notification.created_at)
    for key, value in where.items():
        query = query.where(getattr(Notification, key) == value)
    return list(db.session.scalars(query))


def messages(include_reminders: bool = False) -> list[Notification]:
    return [r for r in notifications() if include_reminders or r.template != "reminder"]


def patient_phone() -> str:
    return db.session.scalars(select(PatientProfile).join(User, User.id == PatientProfile.user_id)
                              .where(PatientProfile.notify_sms)).one().phone


def when_short(start: datetime) -> str:
    return start.astimezone(BERLIN).strftime("%a %d %b %H:%M")


def invite(message: Received) -> tuple[icalendar.Calendar, object]:
    raw = message.calendar()
    assert raw is not None, f"no text/calendar part in {message.subject!r}"
    cal = icalendar.Calendar.from_ical(raw)
    [event] = cal.walk("VEVENT")
    assert event.decoded("DTSTART").utcoffset() == timedelta(0)
    assert b"DTSTART:" in raw and raw.split(b"DTSTART:")[1].split(b"\r\n")[0].endswith(b"Z")
    return cal, event


def assert_invite(message: Received, method: str, uid: str, start: datetime, sequence: int | None = None,
                  min_sequence: int = 0) -> None:
    cal, event = invite(message)
    assert str(cal["METHOD"]) == method
    assert str(event["UID"]) == uid
    assert int(event["SEQUENCE"]) >= min_sequence
    if sequence is not None:
        assert int(event["SEQUENCE"]) == sequence
    assert event.decoded("DTSTART") == start


def assert_each_email_once(sink: SmtpSink, expected: Counter) -> None:
    """The sink holds exactly the expected (To, Subject) pairs, once each, and every
    Message-ID names the one notification row it came from, which is 'sent'."""
    got = sink.messages
    assert Counter((m.to, m.subject) for m in got) == expected, [(m.to, m.subject) for m in got]
    rows = {str(r.id): r for r in notifications(channel="email")}
    ids = []
    for message in got:
        [row_id] = [rid for rid in rows if rid in message.message_id]
        assert rows[row_id].status == "sent" and rows[row_id].recipient == message.to
        ids.append(row_id)
    assert len(ids) == len(set(ids))


def assert_each_text_once(stack: Stack, expected: Counter) -> None:
    rows = [r for r in notifications(channel="sms") if r.template != "reminder"]
    assert Counter((r.template, r.recipient) for r in rows) == expected
    files = sorted(stack.sms_folder.glob("*.txt")) if stack.sms_folder.exists() else []
    assert sorted(p.stem for p in files) == sorted(str(r.id) for r in rows)
    assert {r.status for r in rows} == {"sent"}


def settle_and_sweep(stack: Stack) -> None:
    """Give a duplicate every chance: wait, run the sweep (as cron would), wait again."""
    time.sleep(SETTLE_SECONDS)
    with stack.app.app_context():
        assert sweep_notifications() == 0, [(r.template, r.status) for r in notifications()]
    time.sleep(0.5)


def book(stack: Stack, hhmm: str = "10:00"):
    with stack.app.app_context():
        clinic = load_clinic()
        patient = clinic.actor("patient")
        start = at(day_ahead(1), hhmm)
        booking_id = hold(patient, provider_id=clinic.weber, appointment_type_id=clinic.consult,
                          start=start).booking.id
        lifecycle.confirm(patient, booking_id)
        events = db.session.scalars(select(BookingEvent).where(BookingEvent.booking_id == booking_id)).all()
        sent = get_redis().mget([sent_mark(e.id) for e in events])
        assert all(mark is not None for mark in sent)  # published at commit: the worker will hear
    return booking_id, start


def reschedule(stack: Stack, booking_id, start: datetime) -> None:
    with stack.app.app_context():
        lifecycle.reschedule(load_clinic().actor("patient"), booking_id, start=start)


def cancel(stack: Stack, booking_id) -> None:
    with stack.app.app_context():
        lifecycle.cancel(load_clinic().actor("patient"), booking_id, reason="Plans changed")


def sent(template: str, channel: str | None = None) -> callable:
    def check() -> bool:
        rows = [r for r in notifications(template=template) if channel in (None, r.channel)]
        return bool(rows) and all(r.status == "sent" for r in rows)
    return check


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc): an RQ work horse (jobs that do not run in the
    worker process) puts itself in its own process group, so killing the worker's group alone
    would leave it running."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def sigkill_worker(worker: subprocess.Popen) -> list[int]:
    below = descendants(worker.pid)
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its scheduler (spawn() gave it its own group)
    for pid in below:  # and the work horse, which is in a group of its own
        try:
            os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    worker.wait(10)
    return below


# --- B1. the lifecycle ---------------------------------------------------------------------------------

def test_a_booking_lifecycle_through_a_real_worker_sends_each_expected_message_once(stack):
    with SmtpSink() as sink:
        stack.start_worker(sink.port)
        booking_id, start = book(stack)
        uid = f"{booking_id}@bookwell"
        stack.wait(sent("confirmed"), "the confirmation by email and text")
        [confirmed] = sink.wait_for(1)
        assert (confirmed.to, confirmed.subject) == (PATIENT, f"Your visit on {when_short(start)} is confirmed")
        assert_invite(confirmed, "REQUEST", uid, start, sequence=0)

        new_start = at(day_ahead(1), "11:00")
        reschedule(stack, booking_id, new_start)
        stack.wait(lambda: sent("rescheduled")() and sent("staff_rescheduled")(), "the reschedule messages")
        moved = {m.to: m for m in sink.wait_for(3)[1:]}
        assert_invite(moved[PATIENT], "REQUEST", uid, new_start, sequence=1)

        cancel(stack, booking_id)
        stack.wait(lambda: sent("cancelled")() and sent("staff_cancelled")(), "the cancellation messages")
        gone = {m.to: m for m in sink.wait_for(5)[3:]}
        assert_invite(gone[PATIENT], "CANCEL", uid, new_start, min_sequence=2)

        settle_and_sweep(stack)
        with stack.app.app_context():
            phone = patient_phone()
            assert_each_email_once(sink, Counter({
                (PATIENT, f"Your visit on {when_short(start)} is confirmed"): 1,
                (PATIENT, f"Your visit has moved to {when_short(new_start)}"): 1,
                (WEBER, f"Moved: General consultation to {when_short(new_start)}"): 1,
                (PATIENT, f"Your visit on {when_short(new_start)} is cancelled"): 1,
                (WEBER, f"Cancelled: General consultation on {when_short(new_start)}"): 1,
            }))
            assert_each_text_once(stack, Counter({("confirmed", phone): 1, ("rescheduled", phone): 1,
                                                  ("cancelled", phone): 1}))
            assert {(r.status, r.attempts) for r in messages()} == {("sent", 1)}
            reminders = notifications(template="reminder")
            assert len(reminders) == 8 and {r.status for r in reminders} == {"cancelled"}  # 2 visits x 2 x 2
            assert db.session.get(Booking, booking_id).status == "cancelled"
        assert all(w.poll() is None for w in stack.workers), stack.logs()


# --- B2. SIGKILL mid-send -------------------------------------------------------------------------------

def test_a_worker_killed_mid_send_loses_nothing_and_a_new_worker_sends_each_message_once(stack):
    with SmtpSink(delay=3.0) as sink:  # every DATA is answered only after 3 s: the worker is mid-send
        first = stack.start_worker(sink.port)
        booking_id, start = book(stack)
        sink.wait_until(lambda: sink.in_data >= 1, timeout=30, what="the worker to be in the middle of DATA")
        sigkill_worker(first)  # sends run in the worker process itself (workers/worker.py): it dies mid-DATA
        assert first.poll() is not None
        sink.delay = 0.0
        sink.wait_until(lambda: sink.in_data == 0, timeout=5, what="the dropped connection to be noticed")
        assert sink.count() == 0  # the killed conversation delivered nothing

        with stack.app.app_context():
            [row] = notifications(channel="email", template="confirmed")
            assert (row.status, row.attempts) == ("sending", 1), (row.status, row.attempts, row.error)
            leased_until, row_id = row.locked_until, row.id

        second = stack.start_worker(sink.port)
        # the new worker carries on with what is queued, and with new changes
        new_start = at(day_ahead(1), "11:00")
        reschedule(stack, booking_id, new_start)
        stack.wait(lambda: sent("rescheduled", "email")() and sent("staff_rescheduled")(), "the reschedule emails")
        with stack.app.app_context():
            assert notifications(id=row_id)[0].status == "sending"  # nothing resends it on its own ...
        time.sleep(max(0.0, (leased_until - utcnow()).total_seconds()) + 0.2)
        with stack.app.app_context():
            assert sweep_notifications() >= 1  # ... once the lease has run out, the sweep re-enqueues it
        stack.wait(sent("confirmed"), "the confirmation to be sent by the new worker")

        settle_and_sweep(stack)
        with stack.app.app_context():
            phone = patient_phone()
            assert_each_email_once(sink, Counter({
                (PATIENT, f"Your visit on {when_short(start)} is confirmed"): 1,
                (PATIENT, f"Your visit has moved to {when_short(new_start)}"): 1,
                (WEBER, f"Moved: General consultation to {when_short(new_start)}"): 1,
            }))
            assert_each_text_once(stack, Counter({("confirmed", phone): 1, ("rescheduled", phone): 1}))
            row = notifications(id=row_id)[0]
            assert (row.status, row.attempts, row.locked_until) == ("sent", 2, None)
            assert {r.status for r in messages()} == {"sent"}
            assert {r.status for r in notifications(template="reminder")} == {"pending", "cancelled"}
            pending = notifications(template="reminder", status="pending")
            assert {r.scheduled_for for r in pending} == {new_start - timedelta(minutes=m) for m in (1440, 120)}
        uid = f"{booking_id}@bookwell"
        confirmed = next(m for m in sink.messages if m.subject.endswith("is confirmed"))
        cal, event = invite(confirmed)
        assert (str(cal["METHOD"]), str(event["UID"])) == ("REQUEST", uid)
        assert second.poll() is None, stack.logs()


# --- B3. SMTP down, then back -----------------------------------------------------------------------------

def test_with_smtp_down_messages_are_retried_and_all_go_out_once_when_it_returns(stack):
    port = free_port()  # nothing listens here yet
    stack.start_worker(port)
    # A patient's pace: each change is handled by the worker before the next one is made.
    booking_id, start = book(stack)
    stack.wait(lambda: bool(notifications(template="confirmed")), "the confirmation to be created")
    new_start = at(day_ahead(1), "11:00")
    reschedule(stack, booking_id, new_start)
    stack.wait(lambda: bool(notifications(template="staff_rescheduled")), "the reschedule messages to be created")
    cancel(stack, booking_id)

    def all_attempted_once() -> bool:
        emails = [r for r in messages() if r.channel == "email"]
        return len(emails) == 5 and all(r.attempts == 1 and r.status == "pending" for r in emails) and \
            sent("confirmed", "sms")() and sent("rescheduled", "sms")() and sent("cancelled", "sms")()

    stack.wait(all_attempted_once, "every email to fail once and every text to go out")
    with stack.app.app_context():
        for row in [r for r in messages() if r.channel == "email"]:
            assert row.error and ("refused" in row.error.lower() or "connect" in row.error.lower()), row.error
            assert row.locked_until is None
            # backed off (30 s after the attempt), not dropped
            assert row.created_at + timedelta(seconds=30) <= row.scheduled_for <= utcnow() + timedelta(seconds=30)
        assert sweep_notifications() == 0  # not due yet: nothing is hammered

    with SmtpSink(port) as sink:  # the server is back
        time.sleep(0.5)
        assert sink.count() == 0  # and still nothing goes before the backoff has passed
        with stack.app.app_context():  # time passes: the backoff is over
            from app.database import write_transaction

            with write_transaction():
                for row in notifications(status="pending"):
                    assert row.template != "reminder"
                    row.scheduled_for = utcnow()
            assert sweep_notifications() == 5
        stack.wait(lambda: all(r.status == "sent" for r in messages()), "every email to go out")
        sink.wait_for(5)
        settle_and_sweep(stack)
        with stack.app.app_context():
            phone = patient_phone()
            assert_each_email_once(sink, Counter({
                (PATIENT, f"Your visit on {when_short(start)} is confirmed"): 1,
                (PATIENT, f"Your visit has moved to {when_short(new_start)}"): 1,
                (WEBER, f"Moved: General consultation to {when_short(new_start)}"): 1,
                (PATIENT, f"Your visit on {when_short(new_start)} is cancelled"): 1,
                (WEBER, f"Cancelled: General consultation on {when_short(new_start)}"): 1,
            }))
            assert_each_text_once(stack, Counter({("confirmed", phone): 1, ("rescheduled", phone): 1,
                                                  ("cancelled", phone): 1}))
            emails = [r for r in messages() if r.channel == "email"]
            assert len(emails) == 5
            assert {(r.status, r.attempts, r.error) for r in emails} == {("sent", 2, None)}
            left = [r for r in notifications() if r.status in ("pending", "sending", "failed")]
            assert left == []
        uid = f"{booking_id}@bookwell"
        cancelled = next(m for m in sink.messages if m.subject.endswith("is cancelled"))
        assert_invite(cancelled, "CANCEL", uid, new_start, min_sequence=2)
    assert all(w.poll() is None for w in stack.workers), stack.logs()
