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
    """Follow-up work for one booking event (notifications, calendar pushes hook in here).

    Idempotent: it only reads the event; the notification layer keys each
    message by (booking, event, channel, recipient).
    """
    import uuid

    from app.extensions import db
    from app.models import BookingEvent

    item = db.session.get(BookingEvent, uuid.UUID(event_id))
    return "missing" if item is None else item.action
