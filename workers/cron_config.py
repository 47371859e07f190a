"""Periodic jobs for `rq cron` (run by `python -m workers.cron`). Times are UTC."""
from rq import cron

from workers.jobs import heartbeat, reconcile_availability
from workers.queues import LOW

cron.register(heartbeat, queue_name=LOW, interval=60)
cron.register(reconcile_availability, queue_name=LOW, cron="15 2 * * *", job_timeout=1800)
