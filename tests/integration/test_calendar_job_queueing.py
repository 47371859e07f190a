"""Calendar jobs are queued once while they wait, and again when a dead worker took them.

A worker pops a job from its queue's list and only then marks it started; SIGKILLed in
between, it leaves the job's stored status "queued" with the job in no list. Trusting that
status, the sweep never queued the connection's write-back again (seen as a write-back that
never converged in test_calendar_writeback_kills.py). Real Redis, no worker: the pop is
done here, the way the worker does it.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import redis
from rq.registry import ScheduledJobRegistry

from app import create_app
from app.calendars.jobs import _enqueue_once, enqueue_sync, enqueue_writeback_for_connection
from tests.conftest import _config
from workers.queues import DEFAULT, LOW, queue

REDIS_DB = 14  # no other test's queues mix in (see test_notification_delivery.py)


@pytest.fixture
def client(redis_url, tmp_path):
    url = redis_url + ("&" if "?" in redis_url else "?") + f"db={REDIS_DB}"
    connection = redis.Redis.from_url(url)
    connection.flushdb()
    app = create_app(_config(f"sqlite:///{tmp_path / 'unused.sqlite3'}", url))
    with app.app_context():
        yield connection
    connection.flushdb()
    connection.close()


def waiting(connection, name: str) -> list[str]:
    return [job_id.decode() for job_id in connection.lrange(queue(name, connection).key, 0, -1)]


def test_a_waiting_job_is_not_queued_twice(client):
    connection_id = uuid.uuid4()
    assert enqueue_writeback_for_connection(connection_id) is True
    assert enqueue_writeback_for_connection(connection_id) is False
    assert enqueue_sync(connection_id) is True
    assert enqueue_sync(connection_id) is False
    assert waiting(client, DEFAULT) == [f"calendar-writeback-{connection_id}"]
    assert waiting(client, LOW) == [f"calendar-sync-{connection_id}"]


@pytest.mark.parametrize("enqueue,name,prefix", [
    (enqueue_writeback_for_connection, DEFAULT, "calendar-writeback"),
    (enqueue_sync, LOW, "calendar-sync"),
])
def test_a_job_popped_by_a_worker_that_died_is_queued_again(client, enqueue, name, prefix):
    connection_id = uuid.uuid4()
    assert enqueue(connection_id) is True
    popped = client.lpop(queue(name, client).key)  # the worker's pop; it dies before marking the job started
    assert popped.decode() == f"{prefix}-{connection_id}"
    assert client.hget(f"rq:job:{prefix}-{connection_id}", "status") == b"queued"  # what it left behind

    assert enqueue(connection_id) is True
    assert waiting(client, name) == [f"{prefix}-{connection_id}"]
    assert enqueue(connection_id) is False  # and once queued again, once only


def test_a_delayed_job_waits_in_the_scheduled_registry_and_is_queued_again_when_lost_from_it(client):
    job_id = f"calendar-poll-{uuid.uuid4()}"
    assert _enqueue_once("workers.jobs.heartbeat", job_id, delay=timedelta(minutes=5)) is True
    assert _enqueue_once("workers.jobs.heartbeat", job_id, delay=timedelta(minutes=5)) is False
    registry = ScheduledJobRegistry(queue=queue(LOW, client))
    assert registry.get_job_ids() == [job_id]

    client.zrem(registry.key, job_id)  # lost (a restored Redis, a scheduler's crash mid-move)
    assert _enqueue_once("workers.jobs.heartbeat", job_id, delay=timedelta(minutes=5)) is True
    assert registry.get_job_ids() == [job_id]
