"""Signed links that let a guest view, cancel or reschedule their booking.

A link is short enough for a text message: the booking id and a keyed MAC of it,
38 URL-safe characters (`/manage/<token>`). It works while the booking can still
be changed (the pages refuse changes to past or closed visits). Links made before
this format (itsdangerous, 180 days) are still accepted.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.links import external_url
from app.models import Booking
from app.tenancy import site_prefix

SALT = "bookwell-manage-booking"
MAX_AGE = 180 * 24 * 3600  # legacy links
MAC_BYTES = 12
SHORT_LENGTH = 38  # base64url of 16 + 12 bytes, unpadded


def _mac(booking_id: uuid.UUID) -> bytes:
    key = hashlib.sha256(f"{SALT}:{current_app.config['SECRET_KEY']}".encode()).digest()
    return hmac.new(key, booking_id.bytes, hashlib.sha256).digest()[:MAC_BYTES]


def token_for_id(booking_id: uuid.UUID | str) -> str:
    booking_id = uuid.UUID(str(booking_id))
    return base64.urlsafe_b64encode(booking_id.bytes + _mac(booking_id)).decode().rstrip("=")


def manage_token(booking: Booking) -> str:
    return token_for_id(booking.id)


def manage_url(booking: Booking) -> str:
    return external_url("patient.manage", site_prefix=site_prefix(booking.organization_id),
                        token=manage_token(booking))


def manage_url_for_id(booking_id: uuid.UUID | str, prefix: str) -> str:
    """The same link from the booking id and its clinic's path prefix (message rendering,
    where only plain values travel)."""
    return external_url("patient.manage", site_prefix=prefix, token=token_for_id(booking_id))


def verify_manage_token(token: str) -> uuid.UUID | None:
    if len(token) == SHORT_LENGTH:
        try:
            raw = base64.urlsafe_b64decode(token + "==")
        except (ValueError, TypeError):
            return None
        booking_id = uuid.UUID(bytes=raw[:16])
        return booking_id if hmac.compare_digest(raw[16:], _mac(booking_id)) else None
    try:
        return uuid.UUID(URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)
                         .loads(token, max_age=MAX_AGE))
    except (BadSignature, ValueError):
        return None
