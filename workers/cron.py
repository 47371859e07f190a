"""Cron entry point: `python -m workers.cron` runs RQ's cron scheduler on workers/cron_config.py.

It resolves Redis exactly as the web and worker processes do (REDIS_URL, or the shared
embedded server). The loop is RQ's own (`CronScheduler.start`: enqueue what is due,
heartbeat, sleep) with one difference: a Redis outage does not end the process. It logs,
waits with backoff (workers/outage.py) and carries on; a job that could not be enqueued
keeps its due time, so it goes out as soon as Redis answers.
"""
from __future__ import annotations

import logging
import time
from contextlib import suppress

from flask import Flask
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from app.redis_client import get_redis
from workers.app_context import get_app
from workers.outage import REDIS_DOWN, Backoff, revive_embedded

log = logging.getLogger(__name__)
CONFIG = "workers.cron_config"


def build(app: Flask) -> CronScheduler:
    scheduler = CronScheduler(connection=get_redis(app))
    scheduler.load_config_from_file(CONFIG)
    return scheduler


def run(scheduler: CronScheduler, app: Flask) -> None:
    """Enqueue due jobs until SIGTERM/SIGINT, riding out Redis outages."""
    scheduler._install_signal_handlers()  # SIGTERM/SIGINT raise StopRequested
    backoff, registered = Backoff(), False
    try:
        while True:
            try:
                if not registered:
                    scheduler.register_birth()
                    registered = True
                if scheduler.enqueue_jobs():
                    scheduler.save()
                scheduler.heartbeat()
                if backoff.attempts:
                    log.warning("cron %s: Redis answers again, scheduling resumes", scheduler.name)
                backoff.reset()
                delay = scheduler.calculate_sleep_interval()
            except REDIS_DOWN as exc:
                registered = False
                delay = backoff.next()
                log.warning("cron %s: Redis unavailable (%s); next try in %.1f s", scheduler.name, exc, delay)
                revive_embedded(app)
            if delay > 0:
                time.sleep(delay)
    except (StopRequested, KeyboardInterrupt):
        log.info("cron %s: stopping", scheduler.name)
    finally:
        with suppress(*REDIS_DOWN):
            scheduler.register_death()


if __name__ == "__main__":
    application = get_app()
    run(build(application), application)
