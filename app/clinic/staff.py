"""Staff accounts: create one, change its role, switch its access off and back on.

The clinic always keeps an enabled administrator: a change that would leave
none is refused. Such changes lock the organization's row first, so two admins
demoting each other at the same moment cannot both succeed (on SQLite the
BEGIN IMMEDIATE of write_transaction serialises them already).

Every refusal is a BookwellError: 422 with field details, 404 for a user or
provider of another organization (patients are not staff and are not found here).
"""
from __future__ import annotations

import uuid

from sqlalchemy import func, select

from app import accounts
from app.database import write_transaction
from app.errors import not_found, validation_error
from app import account_mail
from app.extensions import db
from app.models import STAFF_ROLES, Organization, Provider, User


def create_staff_user(org_id: uuid.UUID, *, email: str, password: str | None, full_name: str, role: str,
                      provider_id: uuid.UUID | None = None) -> User:
    """A new staff sign-in; a provider's must name a provider of this clinic that has none yet.
    Without a password the person is emailed an invitation to choose one (docs/accounts.md)."""
    _check_role(role)
    password = password or None
    check_sign_in(email, password, org_id)
    if role == "provider":
        _linkable_provider(org_id, provider_id, None)
    try:
        user = accounts.create_user(email=email, password=password, role=role, full_name=full_name,
                                    provider_id=provider_id if role == "provider" else None,
                                    organization_id=org_id)
    except accounts.AccountError as error:
        raise validation_error({error.field: error.message}, error.message) from error
    if password is None:
        account_mail.queue("invite", user_id=user.id)
    return user


def check_sign_in(email: str, password: str | None, org_id: uuid.UUID | None = None) -> None:
    """Refuse, before anything is written, a sign-in that accounts.create_user would refuse
    (create_user checks the email again inside its transaction). No password: an invitation."""
    if password:
        try:
            accounts.check_password_strength(password, email=email, organization_id=org_id)
        except accounts.AccountError as error:
            raise validation_error({error.field: error.message}) from error
    if accounts.find_user_by_email(email, org_id) is not None:
        raise validation_error({"email": "A user with this email already exists."})


def change_role(org_id: uuid.UUID, user_id: uuid.UUID, *, role: str,
                provider_id: uuid.UUID | None = None) -> User:
    """Give a staff user another role (a provider role links them to their provider)."""
    _check_role(role)
    with write_transaction():
        _lock(org_id)
        user = _staff(org_id, user_id)
        provider = _linkable_provider(org_id, provider_id, user.id) if role == "provider" else None
        if role != "admin":
            _keep_an_admin(org_id, user, "role")
        user.role = role
        user.provider_id = provider.id if provider else None
    return user


def set_access(org_id: uuid.UUID, user_id: uuid.UUID, *, enabled: bool) -> User:
    """Switch a staff user's sign-in off (their open sessions end) or back on."""
    with write_transaction():
        _lock(org_id)
        user = _staff(org_id, user_id)
        if not enabled:
            _keep_an_admin(org_id, user, "access")
        if user.is_enabled != enabled:
            user.is_enabled = enabled
            if not enabled:
                user.session_version += 1  # signed-in browsers lose their session on the next request
    return user


def _check_role(role: str) -> None:
    if role not in STAFF_ROLES:
        raise validation_error({"role": f"Choose one of: {', '.join(STAFF_ROLES)}."})


def _lock(org_id: uuid.UUID) -> None:
    db.session.execute(select(Organization.id).where(Organization.id == org_id).with_for_update())


def _staff(org_id: uuid.UUID, user_id: uuid.UUID) -> User:
    user = db.session.get(User, user_id)
    if user is None or user.organization_id != org_id or user.role not in STAFF_ROLES:
        raise not_found("staff user")
    return user


def _linkable_provider(org_id: uuid.UUID, provider_id: uuid.UUID | None, user_id: uuid.UUID | None) -> Provider:
    provider = db.session.get(Provider, provider_id) if provider_id else None
    if provider is None or provider.organization_id != org_id:
        raise validation_error({"provider_id": "Choose the provider this person signs in as."})
    taken = db.session.scalars(select(User).where(User.provider_id == provider.id, User.id != user_id)).first()
    if taken is not None:
        raise validation_error({"provider_id": f"{provider.display_name} already signs in as {taken.full_name}."})
    return provider


def _keep_an_admin(org_id: uuid.UUID, user: User, field: str) -> None:
    """Refuse when `user` is the last enabled administrator and is about to stop being one."""
    if user.role != "admin" or not user.is_enabled:
        return
    others = db.session.scalar(select(func.count()).select_from(User).where(
        User.organization_id == org_id, User.role == "admin", User.is_enabled, User.id != user.id))
    if not others:
        message = (f"{user.full_name} is the clinic's only active administrator. "
                   "Make another user an administrator first.")
        raise validation_error({field: message}, message)
