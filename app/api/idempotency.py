"""Idempotency-Key for every mutating API call (docs/api.md, invariant 4).

The first answer to (actor, key) is stored for 24 hours and replayed, status
and body, to any retry with the same request. The same key with another body
is 409 IDEMPOTENCY_KEY_REUSED. A concurrent duplicate waits for the first
answer (and gets it) rather than running the use case twice; the unique
(actor_key, key) row is what makes this safe across processes.

Answers that change nothing because the request's fields were refused (422) are not
stored, like server errors: the key is released, so a malformed request leaves no row
behind and the corrected request may reuse the key. Everything else the use case
answered (success, 404, 409 ...) is stored and replayed.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import Response, jsonify, make_response, request
from sqlalchemy import delete, select, update
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from app import crypto
from app.api.auth import api_user
from app.browser_session import browser_session_id
from app.api.errors import envelope, from_pydantic
from app.database import write_transaction
from app.errors import BookwellError
from app.extensions import db
from app.models import IdempotencyRecord, utcnow

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
TTL = timedelta(hours=24)
WAIT_SECONDS = 10.0
NOT_STORED = frozenset({422})  # a refused shape changed nothing and is not remembered


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


def _request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    body = record.response_body
    response = make_response(jsonify(body) if body is not None else "", record.response_status)
    response.headers[REPLAYED] = "true"
    return response


def _claim(actor: str, key: str, digest: str) -> IdempotencyRecord | None:
    """Insert our in-progress row; None if another request owns the key. A row of this key
    that has expired is removed first, only when the insert meets it (keys are rarely reused)."""
    now = utcnow()
    for clear_expired in (False, True):
        try:
            with write_transaction():
                if clear_expired:
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


def require_key() -> str:
    """The request's Idempotency-Key, or 400 IDEMPOTENCY_KEY_REQUIRED."""
    key = request.headers.get(HEADER, "")
    if not 1 <= len(key) <= 255:
        raise BookwellError(400, "IDEMPOTENCY_KEY_REQUIRED",
                            "Send an Idempotency-Key header (1-255 characters) with every change.")
    return key


def run_once(key: str, payload: Any, call: Callable[[], Response]) -> Response:
    """Answer with `call()` once per (actor, key); replay that answer to a retry with the
    same request (`payload` is the parsed body), 409 to the same key with another one."""
    actor, digest = _actor_key(), _request_hash(payload)
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
        response = make_response(call())
    except BookwellError as error:  # a refusal is an answer like any other
        response = make_response(*envelope(error))
    except ValidationError as error:
        response = make_response(*envelope(from_pydantic(error)))
    except Exception:
        _release(record.id)
        raise
    if response.status_code in NOT_STORED or response.status_code >= 500:
        _release(record.id)  # nothing ran: a corrected request may use the same key
        return response
    with write_transaction():  # one UPDATE (the record loaded at the claim is stale by now)
        db.session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == record.id).values(
            state="done", response_status=response.status_code, response_body=response.get_json(silent=True)),
            execution_options={"synchronize_session": False})
    return response


def idempotent(view):
    """For a view outside `@operation` (prefer `@operation`, docs/api-contract.md): the
    key is required, the body must be JSON, and the first answer is replayed."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        from app.api.contract import read_json

        key = require_key()
        _, payload = read_json()
        return run_once(key, payload, lambda: view(*args, **kwargs))

    return wrapped


def _release(record_id) -> None:
    db.session.rollback()
    with write_transaction():
        db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
