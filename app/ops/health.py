"""/healthz (process alive) and /readyz (database, Redis, worker and cron heartbeats).

Every worker process records a heartbeat ("heartbeat") about every 10 seconds while it
is connected to Redis (workers/worker.py); after WORKER_STALE_SECONDS, three missed
beats and some slack, the worker check turns red. The cron process's heartbeat job
("cron") runs every minute through the whole chain (cron, Redis, a worker, the database).
Both inform; only the database and Redis gate readiness, so a web node is not taken out
of rotation because background work stopped."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.extensions import csrf, db
from app.models import JobHeartbeat, utcnow
from app.redis_client import get_redis

bp = Blueprint("ops", __name__)
csrf.exempt(bp)

WORKER_STALE_SECONDS = 35  # beats every ~10 s: red after three missed beats
CRON_STALE_SECONDS = 180  # the heartbeat job runs every 60 s


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks = {"database": _check_database(), "redis": _check_redis(),
              "worker": _check_beat("heartbeat", WORKER_STALE_SECONDS),
              "cron": _check_beat("cron", CRON_STALE_SECONDS)}
    ready = checks["database"]["ok"] and checks["redis"]["ok"]
    return jsonify(status="ready" if ready else "not_ready", checks=checks), (200 if ready else 503)


def _check_database() -> dict:
    try:
        db.session.execute(text("SELECT 1"))
        return {"ok": True, "dialect": db.engine.dialect.name}
    except Exception as exc:  # report, never raise: this is the health endpoint
        db.session.rollback()
        current_app.logger.warning("readyz database check failed: %s", exc)
        return {"ok": False, "error": type(exc).__name__}


def _check_redis() -> dict:
    try:
        get_redis().ping()
        return {"ok": True, "embedded": bool(current_app.config.get("REDIS_EMBEDDED"))}
    except Exception as exc:
        current_app.logger.warning("readyz redis check failed: %s", exc)
        return {"ok": False, "error": type(exc).__name__}


def _check_beat(name: str, stale_after: float) -> dict:
    """A heartbeat's age; informative, it does not gate readiness."""
    try:
        beat = db.session.get(JobHeartbeat, name)
    except Exception:
        db.session.rollback()
        return {"ok": False, "last_heartbeat": None, "status": "unknown"}
    if beat is None:
        return {"ok": False, "last_heartbeat": None, "status": "never"}
    age = (utcnow() - beat.last_run_at).total_seconds()
    fresh = age <= stale_after
    return {
        "ok": fresh,
        "status": "ok" if fresh else "stale",
        "last_heartbeat": beat.last_run_at.isoformat().replace("+00:00", "Z"),
        "age_seconds": round(age, 1),
        "runs": beat.runs,
    }
