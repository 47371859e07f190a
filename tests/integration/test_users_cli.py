"""`flask users create`: the way the first admin and staff accounts come to exist."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.accounts import authenticate, find_user_by_email
from app.extensions import db
from app.models import Provider, User

PASSWORD = "a-strong-cli-password"


def _create(app, *extra: str, email: str = "new.staff@example.com", role: str = "admin", password: str = PASSWORD):
    args = ["users", "create", "--email", email, "--password", password, "--role", role, *extra]
    return app.test_cli_runner().invoke(args=args)


def _user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def _weber_provider_id(app) -> str:
    with app.app_context():
        return str(db.session.scalars(select(Provider.id).where(Provider.display_name == "Dr. Anna Weber")).one())


@pytest.mark.parametrize(
    "role",
    [
        "admin",  # the first administrator of a new deployment
        "manager",  # a clinic manager
        "frontdesk",  # reception staff
        "patient",  # a patient set up by hand
    ],
)
def test_create_makes_a_user_with_that_role_who_can_sign_in(app, demo, role):
    result = _create(app, "--name", "Casey Cli", role=role)
    assert result.exit_code == 0, result.output
    assert f"created {role} " in result.output
    with app.app_context():
        user = find_user_by_email("new.staff@example.com")
        assert user is not None
        assert (user.role, user.full_name) == (role, "Casey Cli")
        assert user.password_hash.startswith("$argon2id$")
        signed_in = authenticate("new.staff@example.com", PASSWORD)
        assert signed_in is not None and signed_in.id == user.id
        assert authenticate("new.staff@example.com", "a-wrong-password") is None
        assert (user.patient_profile is not None) == (role == "patient")


def test_provider_user_without_provider_id_fails_clearly_and_creates_nothing(app, demo):
    before = _user_count(app)
    result = _create(app, role="provider")
    assert result.exit_code != 0
    assert "--provider-id" in result.output
    assert _user_count(app) == before
    with app.app_context():
        assert find_user_by_email("new.staff@example.com") is None


def test_provider_user_with_a_valid_provider_id_is_linked_to_that_provider(app, demo):
    provider_id = _weber_provider_id(app)
    result = _create(app, "--provider-id", provider_id, role="provider")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = find_user_by_email("new.staff@example.com")
        assert user.role == "provider"
        assert str(user.provider_id) == provider_id
        assert user.organization_id == db.session.get(Provider, user.provider_id).organization_id


@pytest.mark.parametrize(
    ("extra", "role", "password", "says"),
    [
        # a role the app does not know
        ([], "superuser", PASSWORD, "superuser"),
        # a provider id that is not a UUID
        (["--provider-id", "weber"], "provider", PASSWORD, "not a UUID"),
        # a well-formed UUID that names no provider
        (["--provider-id", "00000000-0000-7000-8000-000000000000"], "provider", PASSWORD, "existing provider"),
        # the CLI enforces the same password length as registration
        ([], "admin", "short", "at least 10 characters"),
    ],
)
def test_invalid_arguments_exit_non_zero_with_a_message_and_create_nothing(app, demo, extra, role, password, says):
    before = _user_count(app)
    result = _create(app, *extra, role=role, password=password)
    assert result.exit_code != 0
    assert says in result.output
    assert _user_count(app) == before


@pytest.mark.parametrize(
    "email",
    [
        "admin@riverside.example",  # exactly the demo admin's address
        "Admin@Riverside.Example",  # the same address in other letter case
    ],
)
def test_duplicate_email_exits_non_zero_and_says_so(app, demo, email):
    before = _user_count(app)
    result = _create(app, email=email)
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert _user_count(app) == before


def test_a_provider_user_cannot_be_linked_to_another_organizations_provider(app, demo):
    import uuid as uuid_module

    from app.accounts import AccountError, create_user
    from app.database import write_transaction
    from app.models import Organization

    provider_id = uuid_module.UUID(_weber_provider_id(app))
    with app.app_context():
        with write_transaction():
            other = Organization(name="Elsewhere", slug=f"elsewhere-{uuid_module.uuid4().hex[:6]}")
            db.session.add(other)
        with pytest.raises(AccountError) as refused:
            create_user(email="cross@example.com", password=PASSWORD, role="provider", provider_id=provider_id,
                        organization_id=other.id)
        assert refused.value.field == "provider_id"
        assert find_user_by_email("cross@example.com") is None
