"""Riding out a Redis outage: backoff delays, and bringing the embedded server back.

The worker and the cron process never quit because Redis went away: they log, wait with
a growing, jittered delay (`Backoff`) and carry on where they were once Redis answers.
With the embedded server of the local demo (no REDIS_URL), they also start it again:
it replays its append-only file, so queued jobs survive the crash (app/embedded_redis.py).
"""
from __future__ import annotations

import logging
import random

import redis
from flask import Flask

log = logging.getLogger(__name__)

# What "Redis is away" looks like: refused or reset connections, timeouts, a server still loading.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)


class Backoff:
    """0.5 s, 1 s, 2 s, ... up to `ceiling`, each with up to 20 % jitter; `reset()` after a success."""

    def __init__(self, first: float = 0.5, ceiling: float = 10.0) -> None:
        self.first, self.ceiling, self.attempts = first, ceiling, 0

    def next(self) -> float:
        delay = min(self.ceiling, self.first * 2 ** self.attempts)
        self.attempts += 1
        return delay * random.uniform(0.8, 1.0)

    def reset(self) -> None:
        self.attempts = 0


def revive_embedded(app: Flask) -> None:
    """Start the embedded Redis again if this app uses it and it is gone (no-op otherwise)."""
    if not app.config.get("REDIS_EMBEDDED"):
        return
    from app import embedded_redis

    try:
        embedded_redis.ensure_running(app.instance_path, timeout=5)
        log.warning("embedded Redis was down and has been started again")
    except Exception as exc:  # noqa: BLE001 - keep waiting; the next round tries again
        log.warning("embedded Redis could not be started yet: %s", exc)


def redis_answers(app: Flask) -> bool:
    from app.redis_client import get_redis

    try:
        return bool(get_redis(app).ping())
    except REDIS_DOWN:
        return False
