"""One-time form tokens for pages (invariant 4): a form carries a random token;
the first POST with it runs, any repeat (double click, refresh, a concurrent
duplicate) gets the first answer: a redirect to the same place.

The record lives in the same table as API idempotency keys, keyed by the
browser session, so concurrent duplicates are serialised by its unique index.
"""
from __future__ import annotations

import secrets
import time

from flask import redirect, request

from app.browser_session import browser_session_id
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.database import write_transaction
from app.extensions import db
from app.models import IdempotencyRecord, utcnow

FIELD = "form_token"


def new_token() -> str:
    return secrets.token_urlsafe(16)


def _actor() -> str:
    return "page:" + browser_session_id()


def run_once(handler):
    """Call handler() at most once per form token; it returns a redirect response."""
    from datetime import timedelta

    token = request.form.get(FIELD, "")
    if not 8 <= len(token) <= 64:
        return handler()  # forms without a token (old tabs) still work, just without the guard
    actor = _actor()
    try:
        with write_transaction():
            record = IdempotencyRecord(actor_key=actor, key=token, request_hash="page",
                                       expires_at=utcnow() + timedelta(hours=24))
            db.session.add(record)
    except IntegrityError:
        db.session.rollback()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            db.session.rollback()
            done = db.session.scalars(select(IdempotencyRecord).where(
                IdempotencyRecord.actor_key == actor, IdempotencyRecord.key == token)).first()
            if done is not None and done.state == "done" and done.response_body:
                return redirect(done.response_body["location"], code=303)
            time.sleep(0.05)
        return redirect(request.referrer or "/", code=303)
    response = handler()
    with write_transaction():
        stored = db.session.get(IdempotencyRecord, record.id)
        stored.state, stored.response_status = "done", response.status_code
        stored.response_body = {"location": response.headers.get("Location") or request.referrer or "/"}
    return response
