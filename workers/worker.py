"""Worker entry point: `python -m workers.worker [queue ...]`.

Builds the Flask app once; each job runs inside its app context. Short jobs of
the notification path (`IN_PROCESS_JOBS`) run in the worker process itself: a
fork per message cost more than the message (a new process, new database
connections, the Jinja templates compiled again, a new SMTP connection; 8-12
emails/s before, docs/performance-background.md), and in-process they keep one database pool,
the compiled templates and one SMTP connection across a batch of sends. Every
other job runs in a forked work horse as RQ does by default, which drops the
database connections it inherited (they belong to the parent) and opens its own.
Either way a job's time limit holds (RQ's SIGALRM death penalty works in both).

Outages: RQ itself retries a failed dequeue, but quits its loop on other Redis
errors (a heartbeat, registry clean-up or job bookkeeping while Redis is away).
`main` then waits for Redis with backoff (workers/outage.py) and starts a new
RQ worker on the same queues, so the process never exits because of Redis; only
SIGTERM/SIGINT stop it. While it works, the main process records a heartbeat in
the database every HEARTBEAT_SECONDS (app/ops/health.py turns /readyz's worker
check red after a few missed beats).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from contextlib import suppress
from importlib import import_module

from rq import Worker
from rq.worker import WorkerStatus

from app.extensions import db
from app.redis_client import get_redis
from workers.app_context import get_app
from workers.outage import REDIS_DOWN, Backoff, redis_answers, revive_embedded
from workers.queues import ALL

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10
# RQ blocks on the queues for worker_ttl - 15 seconds and beats around each wait and,
# while a job runs, every job_monitoring_interval: both about every HEARTBEAT_SECONDS.
WORKER_TTL = HEARTBEAT_SECONDS + 15

# Short, idempotent jobs run without a fork. A worker killed mid-send loses the send
# with it (the lease runs out and the sweep sends again: docs/outbox.md).
IN_PROCESS_JOBS = frozenset({"workers.jobs.send_notification", "workers.jobs.handle_booking_event"})


class AppWorker(Worker):
    max_connection_wait_time = 10.0  # RQ's own dequeue retries: back off to 10 s, not 60 s

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        kwargs.setdefault("job_monitoring_interval", HEARTBEAT_SECONDS)
        super().__init__(*args, **kwargs)
        self._main_pid = os.getpid()
        self._last_beat = float("-inf")
        self.stop_wanted = False

    def request_stop(self, signum, frame):
        """SIGTERM/SIGINT: RQ's warm shutdown, remembered, so `main` does not start over."""
        self.stop_wanted = True
        super().request_stop(signum, frame)

    def execute_job(self, job, queue):
        """Notification jobs in this process (no fork per message); the rest in a work horse."""
        if job.func_name not in IN_PROCESS_JOBS:
            return super().execute_job(job, queue)
        self.prepare_execution(job)
        self.perform_job(job, queue)
        self.set_state(WorkerStatus.IDLE)

    def perform_job(self, job, queue):
        app = get_app()
        with app.app_context():
            if self.is_horse:  # a forked horse must not use the parent's connections
                db.engine.dispose(close=False)
            try:
                return super().perform_job(job, queue)
            finally:
                db.session.remove()

    def teardown(self):
        """RQ's teardown, each step best effort: with Redis away, unregistering fails, and the
        pub/sub listener thread must still stop (else every outage would leave one behind)."""
        if self.is_horse:
            return
        with suppress(*REDIS_DOWN):
            self.register_death()
        if self.pubsub_thread:
            with suppress(*REDIS_DOWN):
                self.pubsub.unsubscribe()
            self.pubsub_thread.stop()
            self.pubsub_thread.join(timeout=1)
            with suppress(*REDIS_DOWN):
                self.pubsub.close()

    def heartbeat(self, timeout=None, pipeline=None):
        try:
            super().heartbeat(timeout, pipeline)
        except REDIS_DOWN:
            revive_embedded(get_app())  # the local demo's own server: bring it back, then RQ retries
            raise
        if os.getpid() == self._main_pid and time.monotonic() - self._last_beat >= HEARTBEAT_SECONDS:
            self._last_beat = time.monotonic()
            beat_database()


def beat_database() -> None:
    """Record in the database that a worker is alive and connected (best effort)."""
    from workers.jobs import record_heartbeat

    app = get_app()
    try:
        with app.app_context():
            try:
                record_heartbeat("heartbeat", f"worker {socket.gethostname()} pid {os.getpid()}")
            finally:
                db.session.remove()
    except Exception as exc:  # noqa: BLE001 - a busy or absent database must not stop the worker
        log.warning("worker heartbeat not recorded: %s", exc)


def count_failure(job, exc_type, exc_value, traceback) -> bool:
    from app.ops.metrics import JOB_FAILURES

    JOB_FAILURES.labels(job=job.func_name).inc()
    return True  # let RQ's own handling (failed registry, retries) go on


class _Stop(Exception):
    pass


def _raise_stop(signum, frame) -> None:
    raise _Stop()


def warm_up(app) -> None:
    """Load at start what the first send would otherwise load while a message waits: the
    sending modules (the invite library, the guests' manage links) and the compiled
    notification templates. Best effort: a failure here is the first send's to report."""
    try:
        import_module("app.notifications.dispatch")  # icalendar, the mail and SMS modules
        import_module("app.web.patient.manage_links")  # the guests' way back, made at sending time
        with app.app_context():
            for name in app.jinja_env.list_templates(filter_func=lambda n: n.startswith("notifications/")):
                app.jinja_env.get_template(name)
    except Exception as exc:  # noqa: BLE001
        log.warning("worker warm-up incomplete: %s", exc)


def main(argv: list[str]) -> None:
    app = get_app()
    warm_up(app)
    if not app.config.get("PUBLIC_URL"):  # links in messages are made here, from PUBLIC_URL only
        from app.links import FALLBACK_BASE

        log.warning("PUBLIC_URL is not set: links in emails and texts point to %s", FALLBACK_BASE)
    queues = argv or ALL
    backoff = Backoff()
    try:
        while True:
            worker = None
            try:
                worker = AppWorker(queues, connection=get_redis(app), exception_handlers=[count_failure])
                worker.work(with_scheduler=True)  # moves jobs queued with a delay (short calendar polls) when due
            except REDIS_DOWN as exc:  # while starting (RQ names its connection, registers) or at teardown
                log.warning("worker: Redis unavailable (%s)", exc)
            if worker is not None and (worker.stop_wanted or getattr(worker, "_stop_requested", False)):
                return
            # RQ left its loop without being asked to: Redis went away. Wait for it, then work on.
            signal.signal(signal.SIGTERM, _raise_stop)
            signal.signal(signal.SIGINT, _raise_stop)
            while not redis_answers(app):
                revive_embedded(app)
                delay = backoff.next()
                log.warning("waiting for Redis; next try in %.1f s", delay)
                time.sleep(delay)
            backoff.reset()
            log.warning("Redis answers again: the worker resumes")
    except (_Stop, KeyboardInterrupt):
        return


if __name__ == "__main__":
    main(sys.argv[1:])
