"""Signed links that let a guest view, cancel or reschedule their booking."""
from __future__ import annotations

import uuid

from flask import current_app, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.models import Booking

SALT = "bookwell-manage-booking"
MAX_AGE = 180 * 24 * 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def manage_token(booking: Booking) -> str:
    return _serializer().dumps(str(booking.id))


def manage_url(booking: Booking) -> str:
    return url_for("patient.manage", token=manage_token(booking), _external=True)


def verify_manage_token(token: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(_serializer().loads(token, max_age=MAX_AGE))
    except (BadSignature, ValueError):
        return None
