"""Periodic jobs for `rq cron` (run by `python -m workers.cron`)."""
from rq import cron

from workers.jobs import heartbeat
from workers.queues import LOW

cron.register(heartbeat, queue_name=LOW, interval=60)
