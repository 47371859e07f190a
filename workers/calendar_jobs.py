"""RQ job entry points for external calendars (docs/calendars.md). Ids in, words out; idempotent."""
from __future__ import annotations

import uuid


def sync_calendar(connection_id: str, full: bool = False) -> str:
    from app.calendars.jobs import schedule_next_poll
    from app.calendars.sync import sync_connection

    outcome = sync_connection(uuid.UUID(connection_id), full=full)
    schedule_next_poll(uuid.UUID(connection_id))
    return outcome


def sweep_calendars() -> int:
    """Every minute: queue the connections that are due and the write-backs not yet applied."""
    from app.calendars.jobs import sweep

    return sweep()


def nightly_calendar_resync() -> int:
    from app.calendars.jobs import schedule_full_resync

    return schedule_full_resync()


def renew_push_channels() -> int:
    """Hourly: Google push channels expiring within 24 h get successors; then the old ones stop."""
    from app.calendars.push import renew_due

    return renew_due()


def apply_writeback(connection_id: str) -> str:
    from app.calendars.writeback import apply_connection

    return apply_connection(uuid.UUID(connection_id))


def plan_writeback(event_id: str) -> int:
    """For one booking event: the desired state of its write-back links (then apply them)."""
    from app.calendars.jobs import enqueue_writeback_for_connection
    from app.calendars.writeback import plan_for_event

    connection_ids = plan_for_event(uuid.UUID(event_id))
    for connection_id in connection_ids:
        enqueue_writeback_for_connection(connection_id)
    return len(connection_ids)
