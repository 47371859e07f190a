"""Account use cases: register a patient, authenticate, create users from the CLI.

Each function owns its transaction. Errors are `AccountError` with a field
name, so pages and the API can show them where they belong.
"""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import select

from app import crypto
from app.database import write_transaction
from app.extensions import db
from app.models import ROLES, Organization, PatientProfile, Provider, User, utcnow
from app.passwords import hash_password, needs_rehash, verify_password

MIN_PASSWORD_LENGTH = 10


@dataclass
class AccountError(Exception):
    field: str
    message: str


def find_user_by_email(email: str) -> User | None:
    return db.session.scalars(select(User).where(User.email_index == crypto.email_index(email))).first()


def authenticate(email: str, password: str) -> User | None:
    """The enabled user with these credentials, or None. Upgrades old hashes."""
    user = find_user_by_email(email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        return None
    if not user.is_enabled:
        return None
    with write_transaction():
        user = db.session.get(User, user.id)
        user.last_login_at = utcnow()
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
    return user


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("password", f"Use at least {MIN_PASSWORD_LENGTH} characters.")


_NOT_PLACES = {"localtime", "posixrules", "Factory"}  # files in the zone database, not zones


@functools.cache
def zone_names() -> frozenset[str]:
    """The IANA zone names, read once: `available_timezones()` walks the zone database on
    disk and cost two thirds of every slot read that named a zone."""
    return frozenset(available_timezones()) - _NOT_PLACES


def valid_timezone(name: str | None) -> bool:
    """An IANA zone name such as Europe/Berlin (or UTC)."""
    if not name or name not in zone_names():
        return False
    ZoneInfo(name)
    return True


def register_patient(
    organization_id: uuid.UUID,
    *,
    email: str,
    password: str,
    full_name: str,
    phone: str | None = None,
    timezone: str = "UTC",
    language: str = "en",
) -> User:
    """Create a patient account with its profile."""
    check_password_strength(password)
    if not valid_timezone(timezone):
        timezone = "UTC"
    with write_transaction():
        if find_user_by_email(email) is not None:
            raise AccountError("email", "An account with this email already exists. Sign in instead.")
        user = User(
            organization_id=organization_id,
            email=crypto.normalise_email(email),
            email_index=crypto.email_index(email),
            password_hash=hash_password(password),
            role="patient",
            full_name=full_name.strip(),
        )
        db.session.add(user)
        db.session.flush()
        db.session.add(PatientProfile(
            organization_id=organization_id, user_id=user.id, phone=phone,
            timezone=timezone, language=language,
        ))
    return user


def create_user(
    *,
    email: str,
    password: str,
    role: str,
    full_name: str | None = None,
    provider_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
) -> User:
    """Create any kind of user (CLI and admin). Providers must name their Provider."""
    if role not in ROLES:
        raise AccountError("role", f"Role must be one of {', '.join(ROLES)}.")
    check_password_strength(password)
    with write_transaction():
        if find_user_by_email(email) is not None:
            raise AccountError("email", "A user with this email already exists.")
        provider = None
        if role == "provider":
            provider = db.session.get(Provider, provider_id) if provider_id else None
            if provider is None or (organization_id is not None and provider.organization_id != organization_id):
                raise AccountError("provider_id", "A provider user needs --provider-id of an existing provider.")
            organization_id = provider.organization_id
        if organization_id is None:
            first = db.session.scalars(select(Organization).order_by(Organization.created_at)).first()
            if first is None:
                raise AccountError("organization", "No organization exists yet; run `flask demo seed` or create one.")
            organization_id = first.id
        user = User(
            organization_id=organization_id,
            email=crypto.normalise_email(email),
            email_index=crypto.email_index(email),
            password_hash=hash_password(password),
            role=role,
            full_name=(full_name or email.split("@")[0]).strip(),
            provider_id=provider.id if provider else None,
        )
        db.session.add(user)
        db.session.flush()
        if role == "patient":
            db.session.add(PatientProfile(organization_id=organization_id, user_id=user.id))
    return user
