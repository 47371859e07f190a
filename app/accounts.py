"""Account use cases: register a patient, authenticate, create users from the CLI,
set, reset and change passwords, change the email address.

Each function owns its transaction. Errors are `AccountError` with a field
name, so pages and the API can show them where they belong. Nothing here says
whether an address has an account: sign-in, sign-up and reset answer the same
either way, and do the same slow work (docs/accounts.md).
"""
from __future__ import annotations

import functools
import secrets
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import select

from app import account_mail, account_tokens, crypto, password_policy
from app.contacts import normalise_email_address
from app.database import write_transaction
from app.demo_seed import DEMO_PASSWORD
from app.extensions import db
from app.models import ROLES, Organization, PatientProfile, Provider, User, utcnow
from app.passwords import hash_password, needs_rehash, verify_password

MIN_PASSWORD_LENGTH = password_policy.MIN_LENGTH


@dataclass
class AccountError(Exception):
    field: str
    message: str


def users_with_email(email: str, organization_id: uuid.UUID | None = None) -> list[User]:
    """Accounts with this address: one per organization at most."""
    query = select(User).where(User.email_index == crypto.email_index(email))
    if organization_id is not None:
        query = query.where(User.organization_id == organization_id)
    return list(db.session.scalars(query.order_by(User.created_at)))


def find_user_by_email(email: str, organization_id: uuid.UUID | None = None) -> User | None:
    found = users_with_email(email, organization_id)
    return found[0] if found else None


class EmailNotConfirmed(Exception):
    """The credentials are right but the address is not proven yet (a new link is on its way)."""

    message = "Confirm your email address first: we have sent the link again. Open it, then sign in."


def authenticate(email: str, password: str, organization_id: uuid.UUID | None = None) -> User | None:
    """The enabled, confirmed user with these credentials (in this organization when
    given), or None; EmailNotConfirmed when they are right but the address is not proven yet.
    Unknown addresses cost one dummy hash check, like known ones. Upgrades old hashes."""
    candidates = users_with_email(email, organization_id)
    if not candidates:
        verify_password(None, password)
        return None
    user = next((u for u in candidates if verify_password(u.password_hash, password)), None)
    if user is None or not user.is_enabled:
        return None
    if user.email_unconfirmed:
        # the right password proves the owner: tell them (not anyone else) what is missing,
        # and send the link again
        account_mail.queue("verify", user_id=user.id)
        raise EmailNotConfirmed()
    with write_transaction():
        user = db.session.get(User, user.id)
        user.last_login_at = utcnow()
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
    return user


def valid_email_address(email: str) -> str:
    """One plain address, lower-cased, or AccountError on the email field."""
    try:
        return normalise_email_address(email)
    except ValueError as exc:
        raise AccountError("email", str(exc)) from exc


def check_password_strength(password: str, *, email: str | None = None,
                            organization_id: uuid.UUID | None = None) -> None:
    """The password policy (app/password_policy.py), as an AccountError on 'password'."""
    clinic = db.session.get(Organization, organization_id) if organization_id else None
    try:
        password_policy.check(password, email=email, clinic=clinic.name if clinic else None,
                              forbidden=(DEMO_PASSWORD,))
    except password_policy.WeakPassword as weak:
        raise AccountError("password", str(weak)) from weak


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
    language: str | None = None,
) -> User | None:
    """Sign a patient up; the answer to the person is the same whether or not the address
    has an account here.

    A new address gets an account that signs in once the link in the sign-up email is
    opened (returned). A known address gets nothing new; its owner receives a notice
    with a link to set a password (None is returned, and the caller says "check your
    email" all the same).
    """
    email = valid_email_address(email)
    check_password_strength(password, email=email, organization_id=organization_id)
    if not valid_timezone(timezone):
        timezone = "UTC"
    new_hash = hash_password(password)  # also for a known address: the same slow work either way
    with write_transaction():
        org = db.session.get(Organization, organization_id)
        existing = find_user_by_email(email, organization_id)
        if existing is None:
            user = User(organization_id=organization_id, email=crypto.normalise_email(email),
                        email_index=crypto.email_index(email), password_hash=new_hash, role="patient",
                        full_name=" ".join(full_name.split()), email_unconfirmed=True)
            db.session.add(user)
            db.session.flush()
            db.session.add(PatientProfile(
                organization_id=organization_id, user_id=user.id, phone=phone, timezone=timezone,
                language=language or (org.language if org else "en"),
            ))
    if existing is None:
        account_mail.queue("verify", user_id=user.id)
        return user
    account_mail.queue("known", user_id=existing.id)
    return None


def create_user(
    *,
    email: str,
    password: str | None,
    role: str,
    full_name: str | None = None,
    provider_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
    organization_slug: str | None = None,
) -> User:
    """Create any kind of user (CLI and admin). Providers must name their Provider.

    Without a password the account gets an unusable one and an invitation link to set
    it (sent by the caller: `account_mail.queue("invite", user_id=...)`). Without an
    organization: the one named by slug, else the only one (several: an error naming them).
    """
    if role not in ROLES:
        raise AccountError("role", f"Role must be one of {', '.join(ROLES)}.")
    email = valid_email_address(email)
    if organization_id is None and organization_slug is not None:
        org = db.session.scalars(select(Organization).where(Organization.slug == organization_slug)).first()
        if org is None:
            raise AccountError("organization", f"No organization has the slug {organization_slug!r}."
                               + _choices())
        organization_id = org.id
    if organization_id is None and role != "provider":
        organization_id = only_organization().id
    if password is not None:
        check_password_strength(password, email=email, organization_id=organization_id)
    secret = hash_password(password if password is not None else secrets.token_urlsafe(32))
    with write_transaction():
        provider = None
        if role == "provider":
            provider = db.session.get(Provider, provider_id) if provider_id else None
            if provider is None or (organization_id is not None and provider.organization_id != organization_id):
                raise AccountError("provider_id", "A provider user needs --provider-id of an existing provider"
                                   + (" of this organization." if organization_id else "."))
            organization_id = provider.organization_id
        if find_user_by_email(email, organization_id) is not None:
            raise AccountError("email", "A user with this email already exists in this organization.")
        user = User(
            organization_id=organization_id,
            email=crypto.normalise_email(email),
            email_index=crypto.email_index(email),
            password_hash=secret,
            role=role,
            full_name=(full_name or email.split("@")[0]).strip(),
            provider_id=provider.id if provider else None,
        )
        db.session.add(user)
        db.session.flush()
        if role == "patient":
            org = db.session.get(Organization, organization_id)
            db.session.add(PatientProfile(organization_id=organization_id, user_id=user.id,
                                          timezone=org.timezone, language=org.language))
    return user


def _choices() -> str:
    slugs = list(db.session.scalars(select(Organization.slug).order_by(Organization.slug)))
    return f" Choose one of: {', '.join(slugs)}." if slugs else ""


def only_organization() -> Organization:
    """The single organization of a one-clinic install; an AccountError otherwise."""
    orgs = list(db.session.scalars(select(Organization).order_by(Organization.created_at).limit(50)))
    if not orgs:
        raise AccountError("organization", "No organization exists yet; create one with "
                           "`flask organizations create --name NAME --slug SLUG`.")
    if len(orgs) > 1:
        raise AccountError("organization", "There are several organizations; name one with --organization."
                           + _choices())
    return orgs[0]


# --- links: reset, invitation, sign-up confirmation, new address --------------------------------

def request_password_reset(organization_id: uuid.UUID | None, email: str) -> None:
    """Queue a reset email for this address (in this organization, or every account with it).
    Does the same work whether or not such an account exists: the look-up happens in the job."""
    account_mail.queue("reset", organization_id=organization_id, email=email)


def _user_for_link(token: str, purposes: tuple[str, ...]) -> tuple[User, account_tokens.AccountLink]:
    for purpose in purposes:
        link = account_tokens.read(token, purpose)
        if link is None:
            continue
        user = db.session.get(User, link.user_id)
        if user is not None and secrets.compare_digest(account_tokens.fingerprint(user), link.fingerprint):
            return user, link
    raise AccountError("token", "This link is not valid any more (used, too old or altered). "
                       "Ask for a new one.")


def link_is_valid(token: str, purposes: tuple[str, ...] = ("reset", "invite")) -> bool:
    try:
        _user_for_link(token, purposes)
    except AccountError:
        return False
    return True


def set_password_with_link(token: str, password: str) -> User:
    """Reset or first-time password from a one-time link. Proves the address too.
    Every other session and link of this account stops working."""
    user, _ = _user_for_link(token, ("reset", "invite"))
    check_password_strength(password, email=user.email, organization_id=user.organization_id)
    new_hash = hash_password(password)
    with write_transaction():
        row = db.session.get(User, user.id)
        if account_tokens.fingerprint(row) != account_tokens.fingerprint(user):
            raise AccountError("token", "This link was just used. Ask for a new one.")
        row.password_hash, row.email_unconfirmed = new_hash, False
        row.session_version += 1
    return row


def confirm_sign_up(token: str) -> User:
    """The link in the sign-up email: the address is proven, the account may sign in."""
    user, _ = _user_for_link(token, ("verify",))
    with write_transaction():
        row = db.session.get(User, user.id)
        row.email_unconfirmed = False
        row.session_version += 1
    return row


def change_password(user_id: uuid.UUID, *, current: str, new: str) -> User:
    """The signed-in person changes their password; other sessions end."""
    user = db.session.get(User, user_id)
    if user is None or not verify_password(user.password_hash, current):
        raise AccountError("current_password", "Your current password is not correct.")
    check_password_strength(new, email=user.email, organization_id=user.organization_id)
    new_hash = hash_password(new)
    with write_transaction():
        row = db.session.get(User, user_id)
        row.password_hash = new_hash
        row.session_version += 1
    return row


def request_email_change(user_id: uuid.UUID, *, password: str, new_email: str) -> None:
    """Send a confirmation link to the new address; nothing changes until it is opened."""
    user = db.session.get(User, user_id)
    if user is None or not verify_password(user.password_hash, password):
        raise AccountError("password", "Your password is not correct.")
    if crypto.email_index(new_email) == user.email_index:
        raise AccountError("email", "This is already your address.")
    account_mail.queue("email", user_id=user.id, new_email=new_email)


def confirm_email_change(token: str) -> User:
    """The link sent to the new address: switch to it (unless it has an account here by now)."""
    user, link = _user_for_link(token, ("email",))
    if link.new_email is None:
        raise AccountError("token", "This link is not valid any more. Ask for a new one.")
    with write_transaction():
        if find_user_by_email(link.new_email, user.organization_id) is not None:
            raise AccountError("email", "This address belongs to another account here. Use another one.")
        row = db.session.get(User, user.id)
        row.email, row.email_index = crypto.normalise_email(link.new_email), crypto.email_index(link.new_email)
        row.session_version += 1
    return row
