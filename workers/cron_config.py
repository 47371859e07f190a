"""Periodic jobs for `rq cron` (run by `python -m workers.cron`). Times are UTC."""
from rq import cron

from workers.jobs import expire_holds, heartbeat, reconcile_availability, relay_events, sweep_notifications
from workers.queues import DEFAULT, HIGH, LOW

cron.register(heartbeat, queue_name=LOW, interval=60)
cron.register(expire_holds, queue_name=HIGH, interval=60)
cron.register(relay_events, queue_name=HIGH, interval=60)
cron.register(sweep_notifications, queue_name=DEFAULT, interval=60)
cron.register(reconcile_availability, queue_name=LOW, cron="15 2 * * *", job_timeout=1800)

# External calendars (workers/calendar_jobs.py)
from workers.calendar_jobs import nightly_calendar_resync, sweep_calendars  # noqa: E402

cron.register(sweep_calendars, queue_name=LOW, interval=60)
cron.register(nightly_calendar_resync, queue_name=LOW, cron="45 2 * * *", job_timeout=600)
