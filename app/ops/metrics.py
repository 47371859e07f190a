"""Prometheus metrics at /metrics.

With several processes (gunicorn workers, RQ work horses) set
PROMETHEUS_MULTIPROC_DIR to an empty folder shared by them (`make run` does);
/metrics then aggregates every process's numbers.

Reading /metrics needs `Authorization: Bearer <METRICS_TOKEN>`; without a configured
token only loopback clients (a scraper on the same machine) may read it, and the
address is the one ProxyFix sees, so a proxy in front hides nothing (docs/security.md).
"""
from __future__ import annotations

import hmac
import ipaddress
import os

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess

from app.extensions import csrf

bp = Blueprint("metrics", __name__)
csrf.exempt(bp)

EXPOSED_SLOTS = Histogram("exposed_slots_count", "Slots shown to a person per slot-list answer",
                          buckets=(0, 1, 2, 3, 4, 5, 10, 20, 50, 100))
HOLD_TO_CONFIRM = Histogram("hold_to_confirm_ms", "Milliseconds from hold to confirm",
                            buckets=(1000, 5000, 15000, 30000, 60000, 120000, 300000, 600000))
BOOKINGS = Counter("bookings", "Booking changes by outcome (held, confirmed, pending, cancelled, ...)",
                   ["outcome"])
CONFLICTS = Counter("booking_conflicts", "Answers with status 409, by error code", ["code"])
JOB_FAILURES = Counter("job_failures", "Background jobs that raised, by job", ["job"])


def record_event(action: str, to_status: str | None, data: dict) -> None:
    outcome = to_status if action == "confirmed" and to_status else action
    BOOKINGS.labels(outcome=outcome).inc()
    if action == "confirmed" and "hold_to_confirm_ms" in data:
        HOLD_TO_CONFIRM.observe(data["hold_to_confirm_ms"])


def may_read() -> bool:
    """The configured bearer token, or (no token configured) a loopback client."""
    expected = current_app.config.get("METRICS_TOKEN") or ""
    if expected:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def metrics():
    if not may_read():
        abort(401 if current_app.config.get("METRICS_TOKEN") else 403)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
