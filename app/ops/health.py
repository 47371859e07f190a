"""/healthz (process alive) and /readyz (database, Redis, worker heartbeat)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.extensions import csrf, db
from app.models import JobHeartbeat, utcnow
from app.redis_client import get_redis

bp = Blueprint("ops", __name__)
csrf.exempt(bp)

HEARTBEAT_STALE_SECONDS = 180


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks = {"database": _check_database(), "redis": _check_redis(), "worker": _check_worker()}
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


def _check_worker() -> dict:
    """The heartbeat job's last run; informative, it does not gate readiness."""
    try:
        beat = db.session.get(JobHeartbeat, "heartbeat")
    except Exception:
        db.session.rollback()
        return {"ok": False, "last_heartbeat": None, "status": "unknown"}
    if beat is None:
        return {"ok": False, "last_heartbeat": None, "status": "never"}
    age = (utcnow() - beat.last_run_at).total_seconds()
    fresh = age <= HEARTBEAT_STALE_SECONDS
    return {
        "ok": fresh,
        "status": "ok" if fresh else "stale",
        "last_heartbeat": beat.last_run_at.isoformat().replace("+00:00", "Z"),
        "age_seconds": round(age, 1),
        "runs": beat.runs,
    }
