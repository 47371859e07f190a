"""Encryption of personal data at rest (invariant 7).

Phone numbers and email addresses are stored as Fernet tokens. Lookups by
email use a keyed blind index (HMAC-SHA256 of the normalised address), so the
database never holds the address in clear text yet sign-in stays an indexed
query. Both keys derive from one secret; `configure` is called by create_app.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_fernet: Fernet | None = None
_index_key: bytes | None = None


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def configure(secret: str) -> None:
    """Set the process-wide keys from ENCRYPTION_KEY (or SECRET_KEY)."""
    global _fernet, _index_key
    raw = secret.encode()
    _fernet = Fernet(base64.urlsafe_b64encode(_derive(raw, b"bookwell-pii-encryption")))
    _index_key = _derive(raw, b"bookwell-pii-blind-index")


def _require() -> tuple[Fernet, bytes]:
    if _fernet is None or _index_key is None:
        raise RuntimeError("app.crypto is not configured; call create_app() first")
    return _fernet, _index_key


def encrypt(value: str) -> str:
    return _require()[0].encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _require()[0].decrypt(token.encode()).decode()
    except InvalidToken as exc:  # wrong key or tampered row: never silently return junk
        raise ValueError("cannot decrypt stored personal data with the configured key") from exc


def normalise_email(email: str) -> str:
    return email.strip().lower()


def blind_index(value: str) -> str:
    """Deterministic keyed digest used to look a value up without storing it."""
    return hmac.new(_require()[1], value.encode(), hashlib.sha256).hexdigest()


def email_index(email: str) -> str:
    return blind_index(normalise_email(email))
