"""Cron entry point: runs RQ's own cron scheduler with workers/cron_config.py.

It resolves Redis exactly as the web and worker processes do (REDIS_URL, or
the shared embedded server), then hands over to `rq cron`.
"""
from __future__ import annotations

import sys

from rq.cli import main as rq_main

from workers.app_context import get_app

if __name__ == "__main__":
    url = get_app().config["REDIS_URL"]
    sys.argv = ["rq", "cron", "--url", url, "workers.cron_config"]
    rq_main()
