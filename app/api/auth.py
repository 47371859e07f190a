"""Bearer tokens (JWT, HS256) for the JSON API, and role checks."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

import jwt
from flask import current_app, g, request

from app.api.errors import ApiError
from app.extensions import db
from app.models import User, utcnow

TOKEN_TTL = timedelta(hours=1)
ALGORITHM = "HS256"


def issue_token(user: User) -> dict:
    now = utcnow()
    claims = {"sub": str(user.id), "ver": user.session_version, "org": str(user.organization_id),
              "role": user.role, "iat": now, "exp": now + TOKEN_TTL}
    token = jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm=ALGORITHM)
    return {"access_token": token, "token_type": "Bearer", "expires_in": int(TOKEN_TTL.total_seconds())}


def _user_from_header() -> User | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "UNAUTHENTICATED", "Use 'Authorization: Bearer <token>'.")
    try:
        claims = jwt.decode(token, current_app.config["SECRET_KEY"], algorithms=[ALGORITHM],
                            options={"require": ["sub", "exp", "ver"]})
        user = db.session.get(User, uuid.UUID(claims["sub"]))
    except (jwt.PyJWTError, ValueError) as exc:
        raise ApiError(401, "UNAUTHENTICATED", "The token is invalid or has expired.") from exc
    if user is None or not user.is_enabled or user.session_version != claims["ver"]:
        raise ApiError(401, "UNAUTHENTICATED", "The token is no longer valid.")
    return user


def api_user() -> User | None:
    """The caller, from the bearer token (or None for anonymous calls)."""
    if "api_user" not in g:
        g.api_user = _user_from_header()
    return g.api_user


def require_roles(*roles: str) -> Callable:
    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = api_user()
            if user is None:
                raise ApiError(401, "UNAUTHENTICATED", "Sign in first: POST /api/v1/auth/token.")
            if roles and user.role not in roles:
                raise ApiError(403, "FORBIDDEN", "Your role may not do this.")
            return view(*args, **kwargs)

        return wrapped

    return decorate
