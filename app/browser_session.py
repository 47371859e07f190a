"""The browser session's own random id, kept in the signed session cookie.

Anonymous visitors have no account, so the session is how Bookwell tells one
browser from another: page form tokens (app/web/once.py), the hold cap
(app/booking/hold_limits.py) and anonymous Idempotency-Keys (app/api/idempotency.py)
are scoped by it, never by the client's network address. Sign-in clears the
session and so starts a new id.
"""
from __future__ import annotations

import secrets

from flask import has_request_context, session

KEY = "once_id"  # the name form tokens have always used, so existing sessions keep their id


def browser_session_id(create: bool = True) -> str | None:
    """This browser session's id; a new one is made (and the cookie set) when `create`."""
    if not has_request_context():
        return None
    if KEY not in session:
        if not create:
            return None
        session[KEY] = secrets.token_urlsafe(16)
    return session[KEY]
