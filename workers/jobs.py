"""Job entry points. Jobs receive ids and primitives, never objects, and are idempotent."""
from __future__ import annotations

import os
import socket

from app.database import write_transaction
from app.extensions import db
from app.models import JobHeartbeat, utcnow


def heartbeat() -> str:
    """Record that a worker ran a job just now (shown on /readyz)."""
    now = utcnow()
    with write_transaction():
        beat = db.session.get(JobHeartbeat, "heartbeat")
        if beat is None:
            beat = JobHeartbeat(name="heartbeat", last_run_at=now, runs=0)
            db.session.add(beat)
        beat.last_run_at = now
        beat.runs += 1
        beat.detail = f"{socket.gethostname()} pid {os.getpid()}"
    return now.isoformat()


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


def relay_events() -> int:
    """Every minute: publish outbox events that could not go out at commit (Redis was down)."""
    from app.events import publish_pending

    sent = total = 0
    while (sent := publish_pending()) > 0:
        total += sent
    return total


def handle_booking_event(event_id: str) -> str:
    """Follow-up work for one booking event: its notifications (and reminder changes).

    Idempotent: each message is keyed by (booking, event, channel, recipient),
    so running this twice creates nothing new.
    """
    import uuid

    from app.notifications.dispatch import create_for_event
    from app.redis_client import get_redis
    from workers.queues import DEFAULT, queue

    ready = create_for_event(uuid.UUID(event_id))
    q = queue(DEFAULT, get_redis())
    for notification_id in ready:
        q.enqueue("workers.jobs.send_notification", str(notification_id), result_ttl=3600)
    return f"{len(ready)} notifications"


def send_notification(notification_id: str) -> str:
    """Send one message (idempotent: a lease and a status guard every attempt)."""
    import uuid

    from app.notifications.dispatch import send_one

    return send_one(uuid.UUID(notification_id))


def sweep_notifications() -> int:
    """Every minute: enqueue due reminders, retries and sends whose worker died."""
    from app.extensions import db
    from app.notifications.dispatch import due
    from app.redis_client import get_redis
    from workers.queues import DEFAULT, queue

    ids = due()
    db.session.remove()
    q = queue(DEFAULT, get_redis())
    for notification_id in ids:
        q.enqueue("workers.jobs.send_notification", str(notification_id), result_ttl=3600)
    return len(ids)


def send_account_email(purpose: str, user_id: str | None, organization_id: str | None, email: str | None,
                       new_email: str | None) -> int:
    """One account email (sign-up, reset, invitation, new address); the address arrives
    encrypted and the one-time link is made here, so neither sits in Redis in clear."""
    from app import account_mail

    return account_mail.send(account_mail.Job(purpose, user_id, organization_id, email, new_email))
