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

An operation may take its key inside its own write transaction instead (`run_once(...,
in_transaction=True)`, the hold): the row is inserted as the first statement of the use
case's first write transaction, and the use case may store its answer in that same
transaction (`answer_in_transaction`), so a hold is one write transaction, not three.
A concurrent duplicate meets the row at that insert (PostgreSQL makes it wait for the
first transaction's outcome), is rolled back before it changed anything, and waits for
the first answer like any other. The use case's reads before its first write run again
on a retry, so only operations whose reads have no side effects take this way.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, wraps
from typing import Any

from flask import Response, jsonify, make_response, request
from sqlalchemy import bindparam, delete, select, update
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from app import crypto
from app.api.auth import api_user
from app.browser_session import browser_session_id
from app.api.errors import envelope, from_pydantic
from app.database import after_commit, core_execute, on_each_write, write_transaction
from app.errors import BookwellError
from app.extensions import db
from app.models import IdempotencyRecord, new_id, utcnow

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
TTL = timedelta(hours=24)
WAIT_SECONDS = 10.0
NOT_STORED = frozenset({422})  # a refused shape changed nothing and is not remembered


def _actor_key() -> str:
    """Whose keys these are: the signed-in user; an anonymous caller by its browser
    session, else by the hold token, link token or guest contact its request carries. Never by the
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
    if isinstance(body.get("token"), str) and body["token"]:  # a one-time link's token (reset, invitation)
        return f"link:{body['token']}"
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


def _claim(actor: str, key: str, digest: str) -> uuid.UUID | None:
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
                record_id = new_id()  # known without reloading the row after commit
                db.session.add(IdempotencyRecord(id=record_id, actor_key=actor, key=key, request_hash=digest,
                                                 expires_at=now + TTL))
            return record_id
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


def run_once(key: str, payload: Any, call: Callable[[], Response], *, in_transaction: bool = False) -> Response:
    """Answer with `call()` once per (actor, key); replay that answer to a retry with the
    same request (`payload` is the parsed body), 409 to the same key with another one.
    `in_transaction`: take the key in the use case's own write transaction (module docstring)."""
    actor, digest = _actor_key(), _request_hash(payload)
    if in_transaction:
        return _run_in_transaction(_Claim(actor, key, digest), call)
    record = _claim(actor, key, digest)
    if record is None:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            answer, _ = _await_answer(actor, key, digest, deadline)
            if answer is not None:
                return answer
            record = _claim(actor, key, digest)  # the first attempt failed and released the key: run now
            if record is not None:
                break
    try:
        response = make_response(call())
    except BookwellError as error:  # a refusal is an answer like any other
        response = make_response(*envelope(error))
    except ValidationError as error:
        response = make_response(*envelope(from_pydantic(error)))
    except Exception:
        _release(record)
        raise
    if response.status_code in NOT_STORED or response.status_code >= 500:
        _release(record)  # nothing ran: a corrected request may use the same key
        return response
    with write_transaction():  # one UPDATE (the record loaded at the claim is stale by now)
        _store_answer(record, response.status_code, response.get_json(silent=True))
    return response


def _await_answer(actor: str, key: str, digest: str, deadline: float) -> tuple[Response | None, None]:
    """Wait for the answer of the request that holds this key: (its replay, None), or
    (None, None) once the key is free again. 409 for another request's key, or on timeout."""
    while True:
        existing = _existing(actor, key)
        if existing is not None and existing.request_hash != digest:
            raise BookwellError(409, "IDEMPOTENCY_KEY_REUSED",
                                "This Idempotency-Key was used for a different request.")
        if existing is not None and existing.state == "done":
            return _replay(existing), None
        if existing is None:
            return None, None
        if time.monotonic() > deadline:
            raise BookwellError(409, "IDEMPOTENCY_KEY_REUSED",
                                "A request with this Idempotency-Key is still being processed.")
        time.sleep(0.05)


# --- the key taken inside the use case's own write transaction -----------------------------------

@dataclass
class _Claim:
    actor: str
    key: str
    digest: str
    id: uuid.UUID = field(default_factory=new_id)
    stored: bool = False  # our row is committed (in progress or answered)
    answered: bool = False  # our answer is committed with it


class _KeyTaken(Exception):
    """Another request holds this key: the use case's transaction is rolled back."""


_current: ContextVar[_Claim | None] = ContextVar("idempotency_claim", default=None)


def _insert_row(claim: _Claim, **values: Any) -> bool:
    """Insert our row of (actor, key) in the current transaction; False if a live row holds
    the key (on PostgreSQL after its transaction ended). An expired row is replaced."""
    now = utcnow()
    statement = _insert_statement(db.session.get_bind().dialect.name, tuple(sorted(values)))
    row = {"v_id": claim.id, "v_actor_key": claim.actor, "v_key": claim.key, "v_request_hash": claim.digest,
           "v_expires_at": now + TTL, **{f"v_{name}": value for name, value in values.items()}}
    for clear_expired in (False, True):
        if clear_expired and not db.session.execute(delete(IdempotencyRecord).where(
                IdempotencyRecord.actor_key == claim.actor, IdempotencyRecord.key == claim.key,
                IdempotencyRecord.expires_at <= now)).rowcount:
            return False
        if core_execute(statement, row).first() is not None:
            return True
    return False


@cache
def _insert_statement(dialect: str, extra: tuple[str, ...]):
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id of one shape, built once per dialect."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    names = ("id", "actor_key", "key", "request_hash", "expires_at", *extra)
    table = IdempotencyRecord.__table__
    return insert(table).values({name: bindparam(f"v_{name}") for name in names}).on_conflict_do_nothing(
        index_elements=["actor_key", "key"]).returning(table.c.id)


# Core statements on the table, run with `core_execute`: inside the write lock, the ORM's
# bulk-DML layer cost about as much as the database (docs/performance.md, "Fifth pass").
_ANSWER = update(IdempotencyRecord.__table__).where(IdempotencyRecord.__table__.c.id == bindparam("v_record")).values(
    state="done", response_status=bindparam("v_status"), response_body=bindparam("v_body"))


def _store_answer(record_id: uuid.UUID, status: int, body: Any) -> None:
    """Our row of the key is answered (in the current write transaction)."""
    core_execute(_ANSWER, {"v_record": record_id, "v_status": status, "v_body": body})


def _claim_at_write() -> None:
    """`write_transaction`'s first statement while an in-transaction claim is open."""
    claim = _current.get()
    if claim is None or claim.stored:
        return
    if not _insert_row(claim):
        raise _KeyTaken()
    after_commit("idempotency-claim", lambda: setattr(claim, "stored", True))


def answer_in_transaction(status: int, body: Any) -> None:
    """Store the answer of the request being served in the current write transaction (its
    key was taken there or earlier). Nothing happens outside `run_once(in_transaction=True)`."""
    claim = _current.get()
    if claim is None:
        return
    _store_answer(claim.id, status, body)
    after_commit("idempotency-answer", lambda: setattr(claim, "answered", True))


def _run_in_transaction(claim: _Claim, call: Callable[[], Response]) -> Response:
    token = _current.set(claim)
    try:
        with on_each_write(_claim_at_write):
            try:
                response = make_response(call())
            except _KeyTaken:
                response = None
            except BookwellError as error:
                response = make_response(*envelope(error))
            except ValidationError as error:
                response = make_response(*envelope(from_pydantic(error)))
            except Exception:
                if claim.stored:
                    _release(claim.id)
                raise
    finally:
        _current.reset(token)
    if response is None:  # another request holds the key: its answer
        db.session.rollback()
        answer, _ = _await_answer(claim.actor, claim.key, claim.digest, time.monotonic() + WAIT_SECONDS)
        if answer is not None:
            return answer
        return _run_in_transaction(_Claim(claim.actor, claim.key, claim.digest), call)  # it failed: run now
    if claim.answered:
        return response
    status = response.status_code
    if status in NOT_STORED or status >= 500:
        if claim.stored:
            _release(claim.id)
            return response
        existing = _existing(claim.actor, claim.key)  # a retry of a request that was answered?
        if existing is None:
            return response
        answer, _ = _await_answer(claim.actor, claim.key, claim.digest, time.monotonic() + WAIT_SECONDS)
        return answer or response
    body = response.get_json(silent=True)
    with write_transaction():
        if claim.stored:
            _store_answer(claim.id, status, body)
            stored = True
        else:  # nothing was written: the answer is the row
            stored = _insert_row(claim, state="done", response_status=status, response_body=body)
    if stored:
        return response
    answer, _ = _await_answer(claim.actor, claim.key, claim.digest, time.monotonic() + WAIT_SECONDS)
    return answer or response  # (the other request released the key: this answer stands, unstored)


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
