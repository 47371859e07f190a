"""Periodic jobs for `rq cron` (run by `python -m workers.cron`). Times are UTC.

`OUTBOX_SWEEP_SECONDS` (default 15) sets how often the relay and the notification
sweep run: the longest a booking event waits for its work after its job was lost
with Redis (docs/outbox.md). Interval jobs also run once as soon as cron starts,
so a restart after an outage catches up at once.
"""
import os

from rq import cron

from workers.jobs import expire_holds, heartbeat, reconcile_availability, relay_events, sweep_notifications
from workers.queues import DEFAULT, HIGH, LOW

SWEEP_SECONDS = max(1, int(os.environ.get("OUTBOX_SWEEP_SECONDS", "15")))
# A periodic job still waiting after a few periods is dropped (its successor does the same work),
# so a worker that was away for an hour does not come back to hundreds of identical jobs.
STALE = max(60, 4 * SWEEP_SECONDS)

cron.register(heartbeat, queue_name=LOW, interval=60, ttl=240)
cron.register(expire_holds, queue_name=HIGH, interval=60, ttl=240)
cron.register(relay_events, queue_name=HIGH, interval=SWEEP_SECONDS, ttl=STALE)
cron.register(sweep_notifications, queue_name=DEFAULT, interval=SWEEP_SECONDS, ttl=STALE)
cron.register(reconcile_availability, queue_name=LOW, cron="15 2 * * *", job_timeout=1800)

# External calendars (workers/calendar_jobs.py)
from workers.calendar_jobs import nightly_calendar_resync, renew_push_channels, sweep_calendars  # noqa: E402

cron.register(sweep_calendars, queue_name=LOW, interval=60)
cron.register(renew_push_channels, queue_name=LOW, interval=3600, ttl=3600)  # Google push channels
cron.register(nightly_calendar_resync, queue_name=LOW, cron="45 2 * * *", job_timeout=600)
