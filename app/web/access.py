"""Role gates for audience blueprints and the home page of each role."""
from __future__ import annotations

import uuid

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user

from app.extensions import db, login_manager
from app.models import User
from app.web import sign_ins

ROLE_HOME = {
    "patient": "patient.home",
    "provider": "provider.home",
    "frontdesk": "frontdesk.home",
    "manager": "admin.home",
    "admin": "admin.home",
}


def safe_local_path(target: str | None) -> str | None:
    """A same-site path to send someone back to, or None (never an open redirect)."""
    from urllib.parse import urlsplit

    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def home_endpoint(role: str) -> str:
    return ROLE_HOME.get(role, "patient.home")


def gate_blueprint(bp: Blueprint, *roles: str) -> None:
    """Anonymous users go to sign-in; signed-in users of another role get 403."""

    @bp.before_request
    def _require_role():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if current_user.role not in roles:
            abort(403)
        return None


def require_role_here(*roles: str):
    """The same gate for a single view of a blueprint that has public pages."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if current_user.role not in roles:
        abort(403)
    return None


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    user_id, version, sign_in = sign_ins.parse(session_id)
    try:
        user = db.session.get(User, uuid.UUID(user_id))
    except ValueError:
        return None
    if user is None or str(user.session_version) != version or not user.is_enabled:
        return None  # a switched-off account loses its open sessions, however it was switched off
    if sign_in is not None and sign_ins.signed_out(sign_in):
        return None  # a copy of a cookie of a sign-in that signed out
    user.sign_in_id = sign_in
    return user


login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to continue."
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"
