"""The background chain works end to end: the worker process beats on its own, rq cron
enqueues the heartbeat job, a real RQ worker runs it against the real database, and
/readyz shows both."""
from __future__ import annotations

import sys
import time

from sqlalchemy import create_engine, text

from app import create_app
from tests.conftest import _config
from tests.processes import process_env, spawn, stop


def _heartbeat_runs(url: str, name: str = "heartbeat") -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT runs FROM job_heartbeats WHERE name = :name"),
                                     {"name": name}).first()
            return row[0] if row else 0
    finally:
        engine.dispose()


def test_cron_and_worker_processes_record_a_heartbeat_that_readyz_reports(
    fresh_database_url, redis_url, tmp_path, backend
):
    # A Redis database of its own, so queues of other tests never mix in.
    queue_redis = redis_url + ("&" if "?" in redis_url else "?") + "db=5"
    env = process_env(fresh_database_url, queue_redis)
    worker = spawn([sys.executable, "-m", "workers.worker"], env, tmp_path / "worker.log")
    cron = spawn([sys.executable, "-m", "workers.cron"], env, tmp_path / "cron.log")
    try:
        deadline = time.monotonic() + 45
        while (not _heartbeat_runs(fresh_database_url) or not _heartbeat_runs(fresh_database_url, "cron")) \
                and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert cron.poll() is None, (tmp_path / "cron.log").read_text()
            time.sleep(0.2)
        assert _heartbeat_runs(fresh_database_url) >= 1 and _heartbeat_runs(fresh_database_url, "cron") >= 1, (
            (tmp_path / "worker.log").read_text()[-2000:] + (tmp_path / "cron.log").read_text()[-2000:]
        )
    finally:
        stop(cron)
        stop(worker)

    app = create_app(_config(fresh_database_url, queue_redis))
    body = app.test_client().get("/readyz").json
    assert body["checks"]["worker"]["status"] == "ok"
    assert body["checks"]["worker"]["runs"] >= 1
    assert body["checks"]["cron"]["status"] == "ok"


def test_a_job_queued_with_a_delay_runs_when_due(fresh_database_url, redis_url, tmp_path, backend):
    """Short calendar polls queue themselves with a delay (app/calendars/jobs.py); the worker's
    scheduler must move such a job to its queue when due. Without a cron process here, only
    the delayed job can record the "cron" heartbeat."""
    from datetime import timedelta

    import redis

    from workers.queues import LOW, queue

    queue_redis = redis_url + ("&" if "?" in redis_url else "?") + "db=6"
    connection = redis.Redis.from_url(queue_redis)
    connection.flushdb()
    queue(LOW, connection).enqueue_in(timedelta(seconds=1), "workers.jobs.heartbeat", job_id="delayed-beat")
    worker = spawn([sys.executable, "-m", "workers.worker"], process_env(fresh_database_url, queue_redis),
                   tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 45
        while not _heartbeat_runs(fresh_database_url, "cron") and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
        assert _heartbeat_runs(fresh_database_url, "cron") == 1, (tmp_path / "worker.log").read_text()[-2000:]
    finally:
        stop(worker)
        connection.close()
