"""The worker and the cron process ride out a Redis crash and carry on afterwards.

A Redis server of this test's own (the embedded one, in a temporary folder) is killed
with SIGKILL under a running worker and cron process (real processes, real database,
SMTP sink). Both notice, keep running and wait; a booking confirmed meanwhile commits
without Redis. When Redis is back, the cron relay finds the booking's event still open,
the worker sends its confirmation, and a job queued after the restart runs too.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import redis
from rq.job import Job, JobStatus
from sqlalchemy import select

from app import create_app, embedded_redis
from app.booking import lifecycle
from app.booking.hold import hold
from app.extensions import db
from app.models import AvailabilitySlot, JobHeartbeat, utcnow
from tests.conftest import _config
from tests.integration.booking_helpers import load_clinic
from tests.integration.helpers import seed_demo_clinic
from tests.processes import process_env, spawn, stop
from tests.smtp_sink import SmtpSink
from workers.queues import enqueue_heartbeat


def wait_for(predicate, what: str, processes: dict, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for name, (process, log) in processes.items():
            assert process.poll() is None, f"{name} exited ({process.returncode}):\n{log.read_text()[-3000:]}"
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}:\n{log.read_text()[-2000:]}" for n, (_, log) in processes.items())
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.1)


def kill_hard(folder: Path) -> None:
    pid = int((folder / "redis.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]:
        time.sleep(0.02)


def test_worker_and_cron_wait_through_a_redis_crash_then_catch_up_and_process_new_jobs(
        fresh_database_url, tmp_path, monkeypatch):
    folder = tmp_path / "redis"
    url = embedded_redis.ensure_running(folder)
    app = create_app(_config(fresh_database_url, url))
    seed_demo_clinic(app, monkeypatch)
    with SmtpSink() as sink:
        env = process_env(fresh_database_url, url, MAIL_BACKEND="smtp", SMTP_HOST=sink.host, SMTP_PORT=str(sink.port),
                          SMTP_STARTTLS="false", SMTP_USERNAME="", SMS_BACKEND="file", OUTBOX_SWEEP_SECONDS="1")
        logs = {name: tmp_path / f"{name}.log" for name in ("worker", "cron")}
        processes = {name: (spawn([sys.executable, "-m", f"workers.{name}"], env, logs[name]), logs[name])
                     for name in ("worker", "cron")}
        try:
            def beat() -> JobHeartbeat | None:
                with app.app_context():
                    db.session.expire_all()
                    return db.session.get(JobHeartbeat, "heartbeat")

            wait_for(lambda: beat() is not None, "the worker's first heartbeat", processes)

            kill_hard(folder)
            wait_for(lambda: "Redis" in logs["worker"].read_text() and "Redis unavailable" in logs["cron"].read_text(),
                     "worker and cron to notice Redis is gone", processes)

            with app.app_context():  # the web tier books on without Redis
                clinic = load_clinic()
                patient = clinic.actor("patient")
                start = db.session.scalars(select(AvailabilitySlot.start_at).where(
                    AvailabilitySlot.provider_id == clinic.weber, AvailabilitySlot.status == "open",
                    AvailabilitySlot.appointment_type_id == clinic.consult, AvailabilitySlot.start_at > utcnow())
                    .order_by(AvailabilitySlot.start_at)).first()
                booking_id = hold(patient, provider_id=clinic.weber, appointment_type_id=clinic.consult,
                                  start=start).booking.id
                lifecycle.confirm(patient, booking_id)
            assert sink.count() == 0

            embedded_redis.ensure_running(folder)  # Redis is back
            [message] = sink.wait_for(1, timeout=40)
            assert message.subject.endswith(" is confirmed") and message.to.startswith("patient@")

            client = redis.Redis.from_url(url)
            job = enqueue_heartbeat(client)  # queued after the restart
            wait_for(lambda: Job.fetch(job.id, connection=client).get_status() == JobStatus.FINISHED,
                     "a job queued after the restart to run", processes)
            with app.app_context():
                assert db.session.get(JobHeartbeat, "cron").runs >= 1
            assert all(process.poll() is None for process, _ in processes.values())
            assert sink.count() == 1
            for name, (process, log) in processes.items():  # a stop request ends them; they do not start over
                process.send_signal(signal.SIGTERM)
                assert process.wait(30) == 0, log.read_text()[-2000:]
        finally:
            for process, _ in processes.values():
                stop(process)
            embedded_redis.stop(folder)
            with app.app_context():
                db.engine.dispose()
