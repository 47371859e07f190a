"""The process's Redis connection, built once per app from REDIS_URL."""
from __future__ import annotations

import redis
from flask import Flask, current_app


def get_redis(app: Flask | None = None) -> redis.Redis:
    app = app or current_app
    client = app.extensions.get("bookwell_redis")
    if client is None:
        client = redis.Redis.from_url(app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=2)
        app.extensions["bookwell_redis"] = client
    return client
