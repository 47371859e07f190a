"""User API /api/v1: password reset (also the invitation flow) -- docs/api.md "Organizations,
accounts and passwords". Both answers say nothing about whether an address has an account."""
from __future__ import annotations

from sqlalchemy import select

from app import accounts
from app.api import api_v1
from app.api import responses as r
from app.api.contract import operation
from app.api.schemas import PasswordResetConfirm, PasswordResetRequest
from app.errors import BookwellError, not_found, validation_error
from app.extensions import db
from app.models import Organization
from app.tenancy import sign_in_scope


def organization_scope(slug: str | None) -> Organization | None:
    """The organization a sign-in or reset looks in: the URL's (/o/<slug>), else the body's
    `organization` slug, else None (every organization)."""
    scope = sign_in_scope()
    if scope is None and slug:
        scope = db.session.scalars(select(Organization).where(Organization.slug == slug)).first()
        if scope is None:
            raise not_found("organization")
    return scope


@api_v1.post("/auth/password-reset")
@operation("Email a one-time link to set a new password (202 whether or not the address has an account)",
           body=PasswordResetRequest, response=r.Accepted, status=202, auth="none", errors=[404])
def password_reset(body: PasswordResetRequest):
    scope = organization_scope(body.organization)
    accounts.request_password_reset(scope.id if scope else None, body.email)
    return {"status": "accepted", "message": "If an account uses this address, it will receive an email "
            "with a link to set a new password (valid for one hour)."}


@api_v1.post("/auth/password-reset/confirm")
@operation("Set a password with a reset or invitation token (used, expired or forged: 400)",
           body=PasswordResetConfirm, response=r.PasswordSet, auth="none", errors=[400])
def password_reset_confirm(body: PasswordResetConfirm):
    try:
        user = accounts.set_password_with_link(body.token, body.password)
    except accounts.AccountError as error:
        if error.field == "token":
            raise BookwellError(400, "BAD_REQUEST", error.message) from error
        raise validation_error({error.field: error.message}, error.message) from error
    return {"status": "password_set", "user_id": str(user.id)}
