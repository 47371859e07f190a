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
