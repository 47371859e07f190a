"""Sign-ins that end when they sign out (docs/security.md, "Sessions").

Flask keeps the session in a signed cookie, so signing out in one browser cannot by itself
stop a copy of that cookie, or of the "keep me signed in" cookie, from working. Each sign-in
therefore gets a random id that both cookies carry inside the user id Flask-Login stores
(`User.get_id`: `user:session_version:sign_in`); signing out records a hash of that id in
`signed_out_sessions`, and the user loader refuses a cookie whose sign-in is recorded there.
Signing out ends only that sign-in: the person's other browsers and API tokens stay signed in
(a password change ends them all through `session_version`).
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, exists, select

from app.database import write_transaction
from app.extensions import db
from app.models import SignedOutSession, User, utcnow


def start(user: User) -> None:
    """A new sign-in for `user` (call before `login_user`, which stores `user.get_id()`)."""
    user.sign_in_id = secrets.token_urlsafe(16)


def parse(stored_id: str) -> tuple[str, str, str | None]:
    """(user id, session version, sign-in id or None for a cookie from before sign-in ids)."""
    user_id, _, rest = stored_id.partition(":")
    version, _, sign_in = rest.partition(":")
    return user_id, version, sign_in or None


def _hash(sign_in: str) -> str:
    return hashlib.sha256(f"sign-in:{sign_in}".encode()).hexdigest()


def signed_out(sign_in: str) -> bool:
    return bool(db.session.scalar(select(exists().where(SignedOutSession.id_hash == _hash(sign_in)))))


def end(user: User) -> None:
    """Record the user's current sign-in as signed out, until every cookie that could carry it
    has run out anyway; rows past that are removed on the way."""
    if not user.sign_in_id:
        return
    remember = current_app.config.get("REMEMBER_COOKIE_DURATION", timedelta(days=365))  # Flask-Login's default
    if not isinstance(remember, timedelta):
        remember = timedelta(seconds=int(remember))
    lasts = max(current_app.permanent_session_lifetime, remember)
    now = utcnow()
    with write_transaction():
        db.session.execute(delete(SignedOutSession).where(SignedOutSession.expires_at < now))
        if db.session.get(SignedOutSession, _hash(user.sign_in_id)) is None:
            db.session.add(SignedOutSession(id_hash=_hash(user.sign_in_id), expires_at=now + lasts))
