"""Domain events: recorded in the database with the change, then relayed (outbox).

`record` adds a BookingEvent in the caller's transaction. An event has two
marks (docs/outbox.md):

- `published_at`: its live-update message went out on Redis pub/sub, as the
  relay has confirmed. After the commit the process sends the message, queues
  the worker job that handles the event and sets a short-lived "sent" mark
  (`bookwell:event-sent:<id>`), all in one Redis MULTI: no second database
  transaction per change. The relay later writes `published_at` for marked
  events without sending them again, and sends the unmarked ones (Redis was
  down, or the process died between commit and publish), so nothing is lost.
- `handled_at`: the work it causes (notification rows, ...) is stored, set in
  the same transaction that stores that work (`app/event_work.py`). The job
  queued at commit is only a nudge: if it is lost (Redis died, process died),
  the relay job finds the event still open and handles it.

The relay job (rq cron, `OUTBOX_SWEEP_SECONDS`) does both. Delivery is at least
once; consumers (live page refreshes, work creators) are idempotent.

Redis pub/sub channels (JSON messages `{"event", "booking_id", "status", ...}`):
    bookwell:org:<org>:provider:<provider_id>   a provider's agenda
    bookwell:org:<org>:location:<location_id>   a location's front desk
    bookwell:org:<org>:slots:<provider_id>      slot lists showing this provider
    bookwell:org:<org>:booking:<booking_id>     one booking (its patient's pages)
"""
from __future__ import annotations

import json
import logging
import uuid
import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from rq import Queue
from sqlalchemy import event as sa_event
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.availability.cache import announced_by_booking_event
from app.database import after_commit
from app.extensions import db
from app.models import Booking, BookingEvent, new_id, utcnow

log = logging.getLogger(__name__)
_PENDING = "bookwell_unpublished_events"
RELAY_BATCH = 200
SENT_MARK_SECONDS = 24 * 3600  # far longer than the relay's period (OUTBOX_SWEEP_SECONDS)


def sent_mark(event_id: uuid.UUID | str) -> str:
    """The Redis key that says this event's message and follow-up job went out at commit."""
    return f"bookwell:event-sent:{event_id}"


def record(booking: Booking, action: str, *, actor_id: uuid.UUID | None, actor_role: str | None,
           from_status: str | None, to_status: str | None, data: dict[str, Any] | None = None) -> BookingEvent:
    # Where the visit stood at this event: consumers that run late (retries, a relay after an
    # outage) must describe this moment, not whatever the booking became since.
    snapshot = {"start": booking.start_at.isoformat(), "end": booking.end_at.isoformat(),
                "sequence": booking.reschedule_count}
    item = BookingEvent(organization_id=booking.organization_id, booking_id=booking.id, actor_id=actor_id,
                        actor_role=actor_role, action=action, from_status=from_status, to_status=to_status,
                        data={**snapshot, **(data or {})})
    item.id = item.id or new_id()
    item.created_at = utcnow()
    # The message is built now, so that publishing after commit is one Redis round trip.
    text = message(item, booking)
    route = channels(booking.organization_id, booking.provider_id, booking.location_id, booking.id)
    db.session.add(item)
    db.session().info.setdefault(_PENDING, []).append(_Recorded(item.id, action, to_status, data or {}, text, route))
    announced_by_booking_event(db.session(), booking.provider_id)
    after_commit("publish-events", _publish_recorded)
    return item


@dataclass(frozen=True)
class _Recorded:
    """An event of the transaction that is committing, with its message ready to send."""

    event_id: uuid.UUID
    action: str
    to_status: str | None
    data: dict[str, Any]
    text: str
    channels: list[str]


def channels(org_id: uuid.UUID, provider_id: uuid.UUID, location_id: uuid.UUID, booking_id: uuid.UUID) -> list[str]:
    base = f"bookwell:org:{org_id}"
    return [f"{base}:provider:{provider_id}", f"{base}:location:{location_id}", f"{base}:slots:{provider_id}",
            f"{base}:booking:{booking_id}"]


def message(item: BookingEvent, booking: Booking) -> str:
    return json.dumps({
        "event": item.action, "event_id": str(item.id), "booking_id": str(booking.id), "status": item.to_status,
        "provider_id": str(booking.provider_id), "location_id": str(booking.location_id),
        "appointment_type_id": str(booking.appointment_type_id), "at": item.created_at.isoformat(),
    })


def publish_pending(limit: int = RELAY_BATCH, follow_up: bool = True) -> int:
    """Settle up to `limit` unpublished events, oldest first: send those without a "sent" mark (set
    at commit when the process published them itself), then write `published_at` on all
    of them; returns how many it settled.

    With `follow_up`, also queue the job that handles each event that is still open (a
    nudge only: the relay handles whatever that job does not). Runs in its own transaction.
    PostgreSQL rows are claimed with SKIP LOCKED so concurrent relays share the work;
    SQLite's write lock serialises them.
    """
    from app.database import write_transaction
    from app.redis_client import get_redis

    client = get_redis()
    sent = 0
    with write_transaction():
        # The booking's ids only (a row, not an entity: no decrypting of the personal data it carries).
        booking_ids = select(Booking.id, Booking.organization_id, Booking.provider_id, Booking.location_id,
                             Booking.appointment_type_id)
        query = (booking_ids.add_columns(BookingEvent).join(BookingEvent, Booking.id == BookingEvent.booking_id)
                 .where(BookingEvent.published_at.is_(None)).order_by(BookingEvent.created_at).limit(limit))
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=BookingEvent)
        rows = [(row[-1], row) for row in db.session.execute(query).all()]
        if not rows:
            return 0
        marks = client.mget([sent_mark(item.id) for item, _ in rows])  # raises when Redis is down
        unsent = [(item, booking) for (item, booking), mark in zip(rows, marks) if mark is None]
        with client.pipeline(transaction=False) as pipe:  # a marked event's job went out with it
            for item, booking in unsent:
                text = message(item, booking)
                for channel in channels(booking.organization_id, booking.provider_id, booking.location_id, booking.id):
                    pipe.publish(channel, text)
            pipe.execute()  # raises when Redis is down: nothing is marked, the relay retries
        if follow_up:
            try:
                _enqueue_follow_ups(client, [item.id for item, _ in unsent if item.handled_at is None])
            except (redis.RedisError, OSError) as exc:  # published but not nudged: the relay handles them
                log.warning("follow-up jobs not queued (%s); the relay will handle the events", exc)
        now = utcnow()
        db.session.execute(update(BookingEvent).where(BookingEvent.id.in_([item.id for item, _ in rows]))
                           .values(published_at=now), execution_options={"synchronize_session": False})
        sent = len(rows)
    return sent


def relay(grace: timedelta | None = None) -> dict[str, int]:
    """The relay job's work: handle every open event older than `grace` (its work into the
    database, see app/event_work.py), then publish whatever is unpublished. Returns the counts."""
    from app.event_work import HANDLE_GRACE, handle_unhandled

    handled = handle_unhandled(HANDLE_GRACE if grace is None else grace)
    published = 0
    while (sent := publish_pending(follow_up=False)) > 0:
        published += sent
    return {"handled": handled, "published": published}


def _enqueue_follow_ups(client: redis.Redis, event_ids: list[uuid.UUID]) -> None:
    """Nudge the worker to handle these events now; losing this job loses nothing."""
    q = _follow_up_queue(client)
    for event_id in event_ids:
        q.enqueue(FOLLOW_UP_JOB, str(event_id), job_id=f"booking-event-{event_id}", result_ttl=3600)


def _publish_recorded() -> None:
    """After commit: the recorded events' messages, their follow-up jobs and their "sent"
    marks in one Redis MULTI, so a mark exists exactly when the rest went out. If Redis
    fails (or the process dies first) there is no mark, and the relay sends them."""
    from app.ops.metrics import record_event
    from app.redis_client import get_redis

    pending: list[_Recorded] | None = db.session().info.pop(_PENDING, None)
    if not pending:
        return
    for item in pending:
        record_event(item.action, item.to_status, item.data)
    try:
        client = get_redis()
        with client.pipeline() as pipe:
            _follow_up_queue(client).enqueue_many(
                [Queue.prepare_data(FOLLOW_UP_JOB, (str(item.event_id),), job_id=f"booking-event-{item.event_id}",
                                    result_ttl=3600) for item in pending], pipeline=pipe)
            for item in pending:
                for channel in item.channels:
                    pipe.publish(channel, item.text)
                pipe.set(sent_mark(item.event_id), 1, ex=SENT_MARK_SECONDS)
            pipe.execute()
    except (redis.RedisError, OSError) as exc:  # Redis down: the relay job sends them later
        log.warning("events not yet published (%s); the relay will retry", exc)
    except Exception:  # never let publishing break the request that already committed
        log.exception("publishing events failed; the relay will retry")


FOLLOW_UP_JOB = "workers.jobs.handle_booking_event"
_queues: "weakref.WeakKeyDictionary[redis.Redis, Queue]" = weakref.WeakKeyDictionary()


def _follow_up_queue(client: redis.Redis) -> Queue:
    """The follow-up jobs' queue, one per client: a new Queue asks the server its version (a round trip)."""
    from workers.queues import DEFAULT, queue

    found = _queues.get(client)
    if found is None:
        found = _queues[client] = queue(DEFAULT, client)
    return found


@sa_event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
