"""One-time signed links for accounts: reset a password, accept an invitation, confirm
a sign-up, confirm a new email address.

A token names the user and the purpose, and carries a fingerprint of the account as
it was when the link was made (keyed HMAC over the session version, password hash
and email index). Using any link bumps the session version, which changes the
fingerprint: every link made before, and every open session, stops working. Nothing
is stored; a forged or altered token fails the signature, an old one the age check.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app import crypto
from app.models import User

# How long each kind of link works (docs/accounts.md).
MAX_AGE = {
    "reset": timedelta(hours=1),
    "invite": timedelta(days=3),
    "verify": timedelta(days=1),
    "email": timedelta(hours=1),
}


@dataclass(frozen=True)
class AccountLink:
    user_id: uuid.UUID
    purpose: str
    fingerprint: str
    new_email: str | None = None  # purpose "email": the address to switch to (encrypted in the token)


def fingerprint(user: User) -> str:
    return crypto.blind_index(f"account-link:{user.id}:{user.session_version}:{user.password_hash}:"
                              f"{user.email_index}")[:24]


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"bookwell-account-{purpose}")


def make(user: User, purpose: str, new_email: str | None = None) -> str:
    """A signed token for this user and purpose, valid for MAX_AGE[purpose] and until used."""
    if purpose not in MAX_AGE:
        raise ValueError(f"unknown account link purpose {purpose!r}")
    payload = [str(user.id), fingerprint(user)]
    if new_email is not None:
        payload.append(crypto.encrypt(crypto.normalise_email(new_email)))
    return _serializer(purpose).dumps(payload)


def read(token: str, purpose: str) -> AccountLink | None:
    """The link's content when the signature holds and it is young enough; else None.
    The caller still compares the fingerprint with the user's current one."""
    if not token or len(token) > 2000 or purpose not in MAX_AGE:
        return None
    try:
        payload = _serializer(purpose).loads(token, max_age=int(MAX_AGE[purpose].total_seconds()))
        user_id, print_ = uuid.UUID(payload[0]), str(payload[1])
        new_email = crypto.decrypt(payload[2]) if len(payload) > 2 else None
    except (SignatureExpired, BadSignature, ValueError, TypeError, IndexError, KeyError):
        return None
    return AccountLink(user_id, purpose, print_, new_email)
