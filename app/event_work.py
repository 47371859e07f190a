"""The work a booking event causes, made durable in the database (the outbox's consumer side).

An event counts as handled only when everything it causes is stored: `handle_event`
runs every work creator in `WORK_CREATORS` and sets `BookingEvent.handled_at` in ONE
database transaction, so either all of the work and the mark commit, or none does
and the event stays open for the relay (docs/outbox.md). Redis only carries ids of
rows that already exist (`Dispatch`); a job lost with Redis is re-queued by the sweeps,
because the rows it would have acted on are still pending in the database.

Adding a kind of work (calendar write-back links, say) means adding one creator here:
a function `(event) -> list[Dispatch]` that upserts its rows idempotently (a unique key
per event) in the current session, plus a sweep for its own pending rows.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

import redis
from flask import current_app
from sqlalchemy import select

from app.database import write_transaction
from app.extensions import db
from app.models import BookingEvent, utcnow

log = logging.getLogger(__name__)

# Events younger than this are left to the job queued at their commit; the relay takes the rest.
HANDLE_GRACE = timedelta(seconds=5)
HANDLE_BATCH = 200


@dataclass(frozen=True)
class Dispatch:
    """One RQ job that acts on one row already stored: only the row id travels through Redis."""

    func: str
    row_id: str
    queue: str

    @property
    def job_id(self) -> str:
        """Deterministic, so the sweep can ask Redis whether this row's job is still waiting."""
        return f"{self.func.rsplit('.', 1)[-1]}-{self.row_id}"


def send_notification(notification_id: uuid.UUID | str) -> Dispatch:
    from workers.queues import DEFAULT

    return Dispatch("workers.jobs.send_notification", str(notification_id), DEFAULT)


def notification_work(event: BookingEvent) -> list[Dispatch]:
    """Notification rows (and reminder changes) for the event; sends for those due now."""
    from app.notifications.dispatch import add_for_event

    return [send_notification(row_id) for row_id in add_for_event(event)]


WorkCreator = Callable[[BookingEvent], list[Dispatch]]

# Every kind of work a booking event causes, created inside `handle_event`'s transaction.
# Calendar write-back (DESIGN: a link row per booking and destination) plugs in here.
WORK_CREATORS: list[WorkCreator] = [notification_work]


def handle_event(event_id: uuid.UUID) -> list[Dispatch]:
    """Create the work one event causes and mark the event handled, in one transaction.

    Exactly once per event: the event row is locked (PostgreSQL: FOR UPDATE; SQLite: the
    write lock) and an event already handled is left alone, returning no dispatches. Each
    creator is idempotent as well, so a replay after a crash creates nothing twice.
    Returns the jobs to queue once the transaction has committed (see `dispatch`).
    """
    dispatches: list[Dispatch] = []
    with write_transaction():
        query = select(BookingEvent).where(BookingEvent.id == event_id)
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        event = db.session.scalars(query.execution_options(populate_existing=True)).first()
        if event is None or event.handled_at is not None:
            return []
        for create in WORK_CREATORS:
            dispatches += create(event)
        event.handled_at = utcnow()
    return dispatches


def unhandled(grace: timedelta = HANDLE_GRACE, limit: int = HANDLE_BATCH) -> list[uuid.UUID]:
    """Events whose work is not in the database yet, oldest first, older than `grace`."""
    ids = list(db.session.scalars(select(BookingEvent.id).where(
        BookingEvent.handled_at.is_(None), BookingEvent.created_at <= utcnow() - grace,
    ).order_by(BookingEvent.created_at).limit(limit)))
    db.session.commit()  # end the read snapshot before the writes
    return ids


def handle_unhandled(grace: timedelta = HANDLE_GRACE, limit: int = HANDLE_BATCH) -> int:
    """The relay's half of recovery: handle every open event (each in its own transaction),
    then queue the jobs they call for. Returns how many events it handled.

    An event whose work cannot be created (a bug, a row gone) is logged and left open; it is
    tried again on the next run and never blocks the events after it."""
    handled, failed = 0, set()
    while True:
        batch = [event_id for event_id in unhandled(grace, limit) if event_id not in failed]
        if not batch:
            return handled
        for event_id in batch:
            try:
                dispatch(handle_event(event_id))
                handled += 1
            except Exception:  # noqa: BLE001 - one bad event must not stop the others
                db.session.rollback()
                log.exception("booking event %s could not be handled; will retry", event_id)
                failed.add(event_id)


def dispatch(dispatches: Iterable[Dispatch], connection: redis.Redis | None = None) -> int:
    """Queue the jobs, best effort: with Redis away the rows stay pending in the database and
    the sweep queues them later. Returns how many were queued."""
    from app.redis_client import get_redis
    from workers.queues import queue

    items = list(dispatches)
    if not items:
        return 0
    client = connection or get_redis(current_app)
    queued = 0
    by_queue: dict[str, list[Dispatch]] = {}
    for item in items:
        by_queue.setdefault(item.queue, []).append(item)
    try:
        for name, group in by_queue.items():  # one pipeline per queue, not a dozen round trips per job
            target = queue(name, client)
            target.enqueue_many([target.prepare_data(item.func, (item.row_id,), job_id=item.job_id, result_ttl=3600)
                                 for item in group])
            queued += len(group)
    except (redis.RedisError, OSError) as exc:
        log.warning("%d jobs not queued (%s); the sweep will queue them", len(items) - queued, exc)
    return queued


def not_waiting(dispatches: Iterable[Dispatch], connection: redis.Redis) -> list[Dispatch]:
    """Those whose job is not waiting in its queue: never queued, lost with Redis, finished or
    failed, or taken by a worker that died. Only a job id present in its queue's list counts
    as waiting: after a crash, a job's stored status may still say "queued" for a job a worker
    had already popped (the append-only file kept the pop, not what followed)."""
    from workers.queues import queue

    items = list(dispatches)
    waiting: dict[str, set[bytes]] = {}
    for name in {item.queue for item in items}:
        waiting[name] = set(connection.lrange(queue(name, connection).key, 0, -1))
    return [item for item in items if item.job_id.encode() not in waiting[item.queue]]


# Pops, from the head of a queue, the ids of jobs of one kind (their id starts with ARGV[1]),
# at most ARGV[2] of them, stopping at the first job of another kind; deletes their job
# hashes (KEYS[2] is the job key prefix). Atomic, so two workers never take the same job.
_TAKE_WAITING = """
local taken = {}
while #taken < tonumber(ARGV[2]) do
  local id = redis.call('LINDEX', KEYS[1], 0)
  if not id or string.sub(id, 1, #ARGV[1]) ~= ARGV[1] then break end
  redis.call('LPOP', KEYS[1])
  redis.call('DEL', KEYS[2] .. id)
  taken[#taken + 1] = id
end
return taken
"""


def take_waiting(kind: Dispatch, connection: redis.Redis, limit: int) -> list[str]:
    """Take off the head of `kind`'s queue up to `limit` jobs of the same function (their
    deterministic ids, see `Dispatch.job_id`) and return their row ids, so one job can do
    the work of the jobs queued right behind it without RQ's bookkeeping for each.

    The jobs are gone from Redis once taken: a caller that dies before the rows are done
    leaves them pending (or leased) in the database, where the sweep finds them again, just
    as it does for a job a worker had popped when it died."""
    from rq.job import Job

    from workers.queues import queue

    if limit <= 0:
        return []
    prefix = kind.job_id[: -len(kind.row_id)]
    taken = connection.eval(_TAKE_WAITING, 2, queue(kind.queue, connection).key,
                            Job.redis_job_namespace_prefix, prefix, limit)
    return [job_id.decode()[len(prefix):] for job_id in taken]

