"""Queueing calendar work: due connections (the every-minute sweep), "Sync now", write-back.

Job ids are deterministic, so a connection already waiting in the queue is
not queued twice; the database lease (app/calendars/sync.py) guards the rest.
"Waiting" is checked in the queue itself, not only in the job's status: a worker
killed between popping a job and marking it started leaves the status "queued"
with the job in no list, and trusting the status would never queue that
connection's sync or write-back again (docs/calendars.md, "Sync, health and
scheduling"; the outbox's sweep does the same, app/event_work.py `not_waiting`).
"""
from __future__ import annotations

import uuid

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from sqlalchemy import and_, or_, select, update

from app.database import write_transaction
from app.extensions import db
from app.models import CalendarConnection, CalendarEventLink, utcnow
from app.redis_client import get_redis

SYNC_JOB = "workers.calendar_jobs.sync_calendar"
WRITEBACK_JOB = "workers.calendar_jobs.apply_writeback"


def _enqueue_once(func: str, job_id: str, *args, queue_name: str | None = None, timeout: int = 300,
                  delay=None) -> bool:
    from workers.queues import LOW, queue

    client = get_redis()
    try:
        existing = Job.fetch(job_id, connection=client)
        if _still_waiting(existing, client):
            return False
        existing.delete()
    except NoSuchJobError:
        pass
    target = queue(queue_name or LOW, client)
    options = dict(job_id=job_id, job_timeout=timeout, result_ttl=600, failure_ttl=3600)
    if delay is not None:
        target.enqueue_in(delay, func, *args, **options)  # the worker's scheduler queues it when due
    else:
        target.enqueue(func, *args, **options)
    return True


def _still_waiting(job: Job, client) -> bool:
    """Whether the job will run without being queued again: in its queue's list (or the list
    a dequeuing worker moves it to), or in its queue's scheduled registry."""
    from workers.queues import queue

    status = job.get_status(refresh=False)
    if status == JobStatus.DEFERRED:
        return True  # waits for a dependency (none of ours have one; RQ keeps it)
    target = queue(job.origin, client)
    if status == JobStatus.QUEUED:
        return (client.lpos(target.key, job.id) is not None
                or client.lpos(target.intermediate_queue_key, job.id) is not None)
    if status == JobStatus.SCHEDULED:
        return client.zscore(ScheduledJobRegistry(queue=target).key, job.id) is not None
    return False


def enqueue_sync(connection_id: uuid.UUID, full: bool = False) -> bool:
    return _enqueue_once(SYNC_JOB, f"calendar-sync-{connection_id}", str(connection_id), full)


def schedule_next_poll(connection_id: uuid.UUID) -> bool:
    """Polls shorter than the sweep's minute (configured per connection) queue themselves."""
    from datetime import timedelta

    from flask import current_app

    from app.calendars import health

    connection = db.session.get(CalendarConnection, connection_id)
    if connection is None or connection.status == "reauth_required" or connection.next_sync_at is None:
        return False
    interval = health.poll_interval(connection.kind, current_app.config, connection.poll_seconds)
    if interval >= timedelta(seconds=60):
        return False
    delay = max(timedelta(0), connection.next_sync_at - utcnow())
    job_id = f"calendar-poll-{connection_id}-{int(connection.next_sync_at.timestamp())}"  # one per due time
    return _enqueue_once(SYNC_JOB, job_id, str(connection_id), False, delay=delay)


def due_connections(now=None, limit: int = 500) -> list[uuid.UUID]:
    """Polled connections whose next sync is due (or that asked to sync now) and whose lease is free."""
    now = now or utcnow()
    query = (select(CalendarConnection.id)
             .where(CalendarConnection.kind.in_(("caldav", "ics", "google")),
                    CalendarConnection.status != "reauth_required",
                    or_(CalendarConnection.next_sync_at.is_(None), CalendarConnection.next_sync_at <= now,
                        CalendarConnection.sync_requested_at.isnot(None)),
                    or_(CalendarConnection.lease_until.is_(None), CalendarConnection.lease_until < now))
             .order_by(CalendarConnection.next_sync_at).limit(limit))
    return list(db.session.scalars(query))


def sweep() -> int:
    """Every minute: queue each due connection and each unapplied write-back."""
    ids = due_connections()
    pending = pending_writeback_connections()
    db.session.remove()
    for connection_id in ids:
        enqueue_sync(connection_id)
    for connection_id in pending:
        enqueue_writeback_for_connection(connection_id)
    return len(ids)


def schedule_full_resync() -> int:
    """Nightly: every polled connection does a full sync (rolls the horizon forward, repairs drift)."""
    with write_transaction():
        result = db.session.execute(
            update(CalendarConnection).where(CalendarConnection.kind.in_(("caldav", "ics", "google")),
                                             CalendarConnection.status != "reauth_required")
            .values(full_sync_due=True, sync_requested_at=utcnow()),
            execution_options={"synchronize_session": False})
    return sweep() if result.rowcount else 0


def pending_writeback_connections() -> list[uuid.UUID]:
    return list(db.session.scalars(
        select(CalendarEventLink.connection_id).where(or_(
            CalendarEventLink.applied_version < CalendarEventLink.desired_version,
            and_(CalendarEventLink.applied_state.is_(None), CalendarEventLink.desired_state == "present")))
        .distinct()))


def enqueue_writeback_for_connection(connection_id: uuid.UUID) -> bool:
    from workers.queues import DEFAULT

    return _enqueue_once(WRITEBACK_JOB, f"calendar-writeback-{connection_id}", str(connection_id),
                         queue_name=DEFAULT)
