"""Notification benchmark: `python bench/notifications.py` (or `make bench`).

(a) messages per second sent by ONE real RQ worker process (`python -m workers.worker`)
    to a local aiosmtpd sink on loopback (tests/smtp_sink.py): N=300 pending email
    notifications (confirmations, each with its calendar invite as `add_for_event`
    stores it) for the demo clinic's bookings, one `send_notification` job each, queued
    as the app queues them (`app.event_work.dispatch`), timed from the first enqueue
    until the sink has accepted the 300th message. The worker is started and idle
    before the clock starts, so its start-up is not counted.     target >= 100/s
    A send job also sends the jobs queued right behind it (docs/outbox.md, "Batches").
    Also printed: the worker's CPU time per message (user + system, /proc), which a
    shared machine disturbs far less than the rate. BENCH_PROFILE=<file> runs the worker
    under cProfile and writes its profile there.

SQLite and the embedded Redis in a temporary folder; figures only, no assertions
beyond "every message arrived exactly once". Everything it starts (worker, SMTP
sink, Redis) is stopped and its folders removed on the way out.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cpu import cpu_seconds  # noqa: E402

N = 300
WORKER_READY_TIMEOUT = 30.0
SEND_TIMEOUT = 300.0


def _pending_notifications(app, count: int) -> list[str]:
    """`count` pending confirmation emails, spread over the demo bookings that have an address."""
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from app import crypto
    from app.database import write_transaction
    from app.extensions import db
    from app.models import Booking, Notification
    from app.notifications.dispatch import ICS_METHOD
    from app.notifications.render import context

    with app.app_context():
        bookings = db.session.scalars(select(Booking).options(
            joinedload(Booking.patient), joinedload(Booking.provider), joinedload(Booking.appointment_type),
            joinedload(Booking.location)).order_by(Booking.start_at)).unique().all()
        targets = [(b, b.patient.email if b.patient else b.guest_email) for b in bookings]
        targets = [(b, address) for b, address in targets if address]
        ids = []
        with write_transaction():
            for index in range(count):
                booking, address = targets[index % len(targets)]
                row = Notification(
                    organization_id=booking.organization_id, booking_id=booking.id,
                    recipient_user_id=booking.patient_id, event_key=f"bench-{index}:confirmed", channel="email",
                    template="confirmed", recipient=address, recipient_index=crypto.blind_index(f"email:{address}"),
                    payload={**context(booking, {"event": "confirmed"}), "invite": _invite(booking)},
                    scheduled_for=None, language="en")
                db.session.add(row)
                db.session.flush()
                ids.append(str(row.id))
        assert "confirmed" in ICS_METHOD  # a confirmation carries an invite
        return ids


def _invite(booking) -> dict:
    """The invite snapshot `add_for_event` stores with a confirmation."""
    where = booking.location
    return {"uid": f"{booking.id}@bookwell", "start": booking.start_at.isoformat(),
            "end": booking.end_at.isoformat(), "sequence": booking.reschedule_count,
            "summary": f"{booking.appointment_type.name} with {booking.provider.display_name}",
            "location": ", ".join(part for part in (where.name, where.address) if part), "status": "confirmed"}


def _wait_for_idle_worker(connection, worker, log: Path) -> None:
    from rq import Worker

    deadline = time.monotonic() + WORKER_READY_TIMEOUT
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{log.read_text()[-3000:]}")
        if any(w.get_state() == "idle" for w in Worker.all(connection=connection)):
            return
        time.sleep(0.05)
    raise RuntimeError(f"worker not ready after {WORKER_READY_TIMEOUT}s:\n{log.read_text()[-3000:]}")


def bench_one_worker(folder: Path, redis_url: str) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from app import create_app, demo_seed
    from app.extensions import db
    from app.models import Notification
    from app.redis_client import get_redis
    from tests.processes import process_env, spawn, stop
    from tests.smtp_sink import SmtpSink
    from app.event_work import dispatch, send_notification

    database_url = f"sqlite:///{folder / 'bench.sqlite3'}"
    env = process_env(database_url, redis_url)  # the worker's secret and instance folder
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "SECRET_KEY": env["SECRET_KEY"],
                      "HORIZON_DAYS": 14, "LOG_LEVEL": "WARNING", "INSTANCE_PATH": str(folder / "instance"),
                      "RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade()
        demo_seed.seed_demo()
    ids = _pending_notifications(app, N)

    sink = SmtpSink().start()
    env.update(MAIL_BACKEND="smtp", SMTP_HOST=sink.host, SMTP_PORT=str(sink.port), SMTP_STARTTLS="false",
               SMTP_USERNAME="", SMS_BACKEND="file")
    log = folder / "worker.log"
    profile = os.environ.get("BENCH_PROFILE")  # a file name: the worker runs under cProfile
    worker = spawn([sys.executable, *(["-m", "cProfile", "-o", profile] if profile else []), "-m", "workers.worker"],
                   env, log)
    try:
        connection = get_redis(app)
        _wait_for_idle_worker(connection, worker, log)
        cpu_before = cpu_seconds(worker.pid)
        started = time.perf_counter()
        with app.app_context():
            dispatch([send_notification(i) for i in ids], connection)
        enqueued = time.perf_counter() - started
        sink.wait_for(1, timeout=SEND_TIMEOUT)
        first = time.perf_counter() - started
        sink.wait_for(N, timeout=SEND_TIMEOUT)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(worker.pid) - cpu_before
        time.sleep(1.0)  # anything extra would show up now
        received = sink.messages
        with app.app_context():
            statuses = dict(db.session.execute(select(Notification.status, func.count())
                                               .group_by(Notification.status)).all())
            db.engine.dispose()
    finally:
        stop(worker)
        sink.stop()
        shutil.rmtree(env["BOOKWELL_INSTANCE_PATH"], ignore_errors=True)
    per_id = Counter(next((i for i in ids if i in m.message_id), None) for m in received)
    duplicates = sum(n - 1 for i, n in per_id.items() if i is not None and n > 1)
    invites = sum(1 for m in received if m.calendar() is not None)
    rate = N / elapsed
    print(f"(a) one worker sent {N} emails to the local SMTP sink in {elapsed:.2f} s: {rate:.1f} messages/s "
          f"(target >= 100/s: ratio {rate / 100:.2f}); duplicates {duplicates} (target 0), "
          f"with calendar invite {invites} of {len(received)}")
    print(f"    worker CPU {cpu * 1000 / N:.2f} ms per message (user + system; steadier than the rate on a "
          f"shared machine: {1000 / (cpu * 1000 / N):.0f} messages per CPU second)")
    print(f"    enqueueing took {enqueued:.2f} s, first message after {first * 1000:.0f} ms; "
          f"received {len(received)}; rows {statuses}")
    if len(received) != N or duplicates or statuses.get("sent") != N:
        print("    WARNING: not every message arrived exactly once")


def main() -> None:
    from app import embedded_redis

    folder = Path(tempfile.mkdtemp(prefix="bookwell-bench-notify-"))
    try:
        redis_url = embedded_redis.ensure_running(folder)
        try:
            bench_one_worker(folder, redis_url)
        finally:
            embedded_redis.stop(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
