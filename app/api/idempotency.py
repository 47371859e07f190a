"""Idempotency-Key for every mutating API call (API.md, invariant 4).

The first answer to (actor, key) is stored for 24 hours and replayed, status
and body, to any retry with the same request. The same key with another body
is 409 IDEMPOTENCY_KEY_REUSED. A concurrent duplicate waits for the first
answer (and gets it) rather than running the use case twice; the unique
(actor_key, key) row is what makes this safe across processes.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import timedelta
from functools import wraps

from flask import Response, jsonify, make_response, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app import crypto
from app.api.auth import api_user
from app.browser_session import browser_session_id
from pydantic import ValidationError

from app.api.errors import envelope, from_pydantic
from app.database import write_transaction
from app.errors import BookwellError
from app.extensions import db
from app.models import IdempotencyRecord, utcnow

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
WAIT_SECONDS = 10.0


def _actor_key() -> str:
    """Whose keys these are: the signed-in user; an anonymous caller by its browser
    session, else by the hold token or guest contact its request carries. Never by the
    client address: clients behind one proxy or NAT would replay each other's answers."""
    user = api_user()
    if user is not None:
        return f"user:{user.id}"
    return "anon:" + crypto.blind_index(_anonymous_scope())[:40]


def _anonymous_scope() -> str:
    session_id = browser_session_id(create=False)
    if session_id:
        return f"session:{session_id}"
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    if isinstance(body.get("hold_token"), str) and body["hold_token"]:
        return f"hold:{body['hold_token']}"
    contact = [str(body.get(name) or "").strip().lower() for name in ("email", "phone")]
    if any(contact):
        return "contact:" + "|".join(contact)
    return "nobody:" + secrets.token_hex(16)  # nothing to scope by: no replay


def _request_hash() -> str:
    body = request.get_json(silent=True)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")) if body is not None else request.get_data(as_text=True)
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    response = make_response(jsonify(record.response_body), record.response_status)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _claim(actor: str, key: str, digest: str) -> IdempotencyRecord | None:
    """Insert our in-progress row; None if another request owns the key."""
    now = utcnow()
    try:
        with write_transaction():
            db.session.execute(delete(IdempotencyRecord).where(
                IdempotencyRecord.actor_key == actor, IdempotencyRecord.key == key,
                IdempotencyRecord.expires_at <= now))
            record = IdempotencyRecord(actor_key=actor, key=key, request_hash=digest, expires_at=now + TTL)
            db.session.add(record)
        return record
    except IntegrityError:
        db.session.rollback()
        return None


def _existing(actor: str, key: str) -> IdempotencyRecord | None:
    db.session.rollback()  # a fresh snapshot
    return db.session.scalars(select(IdempotencyRecord).where(
        IdempotencyRecord.actor_key == actor, IdempotencyRecord.key == key)
        .execution_options(populate_existing=True)).first()


def idempotent(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        key = request.headers.get(HEADER, "")
        if not 1 <= len(key) <= 255:
            raise BookwellError(400, "IDEMPOTENCY_KEY_REQUIRED",
                                "Send an Idempotency-Key header (1-255 characters) with every change.")
        actor, digest = _actor_key(), _request_hash()
        record = _claim(actor, key, digest)
        if record is None:
            deadline = time.monotonic() + WAIT_SECONDS
            while True:
                existing = _existing(actor, key)
                if existing is not None and existing.request_hash != digest:
                    raise BookwellError(409, "IDEMPOTENCY_KEY_REUSED",
                                        "This Idempotency-Key was used for a different request.")
                if existing is not None and existing.state == "done":
                    return _replay(existing)
                if existing is None:  # the first attempt failed and released the key: run now
                    record = _claim(actor, key, digest)
                    if record is not None:
                        break
                if time.monotonic() > deadline:
                    raise BookwellError(409, "IDEMPOTENCY_KEY_REUSED",
                                        "A request with this Idempotency-Key is still being processed.")
                time.sleep(0.05)
        try:
            response = make_response(view(*args, **kwargs))
        except BookwellError as error:
            response = make_response(*envelope(error))
        except ValidationError as error:  # a 422 is an answer like any other: stored and replayed
            response = make_response(*envelope(from_pydantic(error)))
        except Exception:
            _release(record.id)
            raise
        if response.status_code >= 500:
            _release(record.id)
            return response
        with write_transaction():
            stored = db.session.get(IdempotencyRecord, record.id)
            stored.state, stored.response_status = "done", response.status_code
            stored.response_body = response.get_json(silent=True)
        return response

    return wrapped


def _release(record_id) -> None:
    db.session.rollback()
    with write_transaction():
        db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
