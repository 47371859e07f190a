"""Queue names, in the order a worker serves them."""
from __future__ import annotations

import redis
from rq import Queue
from rq.job import Job

HIGH = "bookwell-high"        # hold expiry, event relay: user-visible latency
DEFAULT = "bookwell-default"  # notifications, calendar pushes
LOW = "bookwell-low"          # reconcile, sync polling, heartbeats

ALL = [HIGH, DEFAULT, LOW]


def queue(name: str, connection: redis.Redis) -> Queue:
    return Queue(name, connection=connection)


def enqueue_heartbeat(connection: redis.Redis) -> Job:
    return queue(LOW, connection).enqueue("workers.jobs.heartbeat", job_timeout=60, result_ttl=300)
