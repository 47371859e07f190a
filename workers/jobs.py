"""Job entry points. Jobs receive ids and primitives, never objects, and are idempotent."""
from __future__ import annotations

import os
import socket
from collections import Counter

import redis

from app.database import write_transaction
from app.extensions import db
from app.models import JobHeartbeat, utcnow


def record_heartbeat(name: str, detail: str) -> str:
    """Note in job_heartbeats that `name` is alive just now (shown on /readyz)."""
    now = utcnow()
    with write_transaction():
        beat = db.session.get(JobHeartbeat, name)
        if beat is None:
            beat = JobHeartbeat(name=name, last_run_at=now, runs=0)
            db.session.add(beat)
        beat.last_run_at = now
        beat.runs += 1
        beat.detail = detail
    return now.isoformat()


def heartbeat() -> str:
    """Every minute from rq cron: the whole chain (cron, Redis, a worker, the database) works.

    Recorded as "cron" on /readyz; the worker process beats "heartbeat" itself, more often
    (workers/worker.py)."""
    return record_heartbeat("cron", f"job on {socket.gethostname()} pid {os.getpid()}")


def reconcile_availability(provider_id: str | None = None) -> dict:
    """Nightly (and on demand): fill the horizon and repair drift in availability_slots."""
    import uuid

    from app.availability.reconcile import reconcile

    report = reconcile([uuid.UUID(provider_id)] if provider_id else None)
    return {"providers": report.providers, "changed_rows": report.changed_rows}


def expire_holds() -> int:
    """Every minute: holds past their expiry become `expired` (they never block anyway)."""
    from app.booking.lifecycle import expire_holds as expire

    return expire()


def relay_events() -> dict:
    """Every OUTBOX_SWEEP_SECONDS: create the work of events still open (their job was lost, or
    never queued because Redis was down) and publish events that could not go out at commit."""
    from app.events import relay

    return relay()


def handle_booking_event(event_id: str) -> str:
    """Follow-up work for one booking event: its notification rows (and reminder changes) are
    stored and the event marked handled in one transaction; then their sends are queued.

    Idempotent: an event already handled (by an earlier run or the relay) is left alone.
    """
    import uuid

    from app.event_work import dispatch, handle_event

    dispatches = handle_event(uuid.UUID(event_id))
    dispatch(dispatches)
    return f"{len(dispatches)} jobs"


# How many sends one job does at most: its own and those queued right behind it.
SEND_BATCH = 50


def send_notification(notification_id: str) -> str:
    """Send one stored message, and the messages whose send jobs wait right behind it in the
    queue (at most SEND_BATCH in all), over one SMTP connection, each exactly once (a lease
    and a status guard every attempt: `send_batch`). RQ's own bookkeeping, about a dozen
    Redis commands per job, is then paid once per batch (docs/outbox.md, "Batches")."""
    import uuid

    from rq import get_current_job

    from app.event_work import dispatch, send_notification as send_job, take_waiting
    from app.notifications.dispatch import send_batch
    from app.redis_client import get_redis

    job, others = get_current_job(), []
    if job is not None:
        try:
            others = take_waiting(send_job(notification_id), job.connection, SEND_BATCH - 1)
        except (redis.RedisError, OSError):  # Redis away: send this one; the sweep queues the rest later
            others = []
    result = send_batch([uuid.UUID(i) for i in [notification_id, *others]])
    if result.unclaimed:  # out of time: queue them again rather than run past the job's limit
        dispatch([send_job(i) for i in result.unclaimed], get_redis())
    statuses = Counter(result.values())
    return result.get(uuid.UUID(notification_id), "missing") if not others else \
        ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))


def sweep_notifications() -> int:
    """Every OUTBOX_SWEEP_SECONDS: queue the sends of due messages (reminders, retries, sends
    whose worker died, and sends whose job was lost with Redis) unless their job is still
    waiting in the queue. Returns how many it queued."""
    from app.event_work import dispatch, not_waiting, send_notification as send_job
    from app.extensions import db
    from app.notifications.dispatch import due
    from app.redis_client import get_redis

    ids = due()
    db.session.remove()
    client = get_redis()
    return dispatch(not_waiting([send_job(i) for i in ids], client), client)


def send_account_email(purpose: str, user_id: str | None, organization_id: str | None, email: str | None,
                       new_email: str | None) -> int:
    """One account email (sign-up, reset, invitation, new address); the address arrives
    encrypted and the one-time link is made here, so neither sits in Redis in clear."""
    from app import account_mail

    return account_mail.send(account_mail.Job(purpose, user_id, organization_id, email, new_email))
