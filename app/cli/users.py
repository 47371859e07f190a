"""`flask users create --email --password --role [--provider-id] [--organization SLUG]` (docs/api.md).

Without --organization the user joins the only organization (several: an error
naming them). Without --password the person gets an email invitation to set one.
"""
import uuid

import click

from app import account_mail
from app.accounts import AccountError, create_user
from app.models import ROLES

users_cli = click.Group("users", help="Manage user accounts.")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", default=None, help="Omit to email the person an invitation to set one.")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--name", "full_name", default=None, help="Full name shown in the app.")
@click.option("--provider-id", default=None, help="Provider this user signs in as (role provider).")
@click.option("--organization", "organization", default=None, help="Slug of the organization (clinic).")
def create(email: str, password: str | None, role: str, full_name: str | None, provider_id: str | None,
           organization: str | None) -> None:
    try:
        provider_uuid = uuid.UUID(provider_id) if provider_id else None
    except ValueError as exc:
        raise click.BadParameter("not a UUID", param_hint="--provider-id") from exc
    try:
        user = create_user(email=email, password=password, role=role, full_name=full_name, provider_id=provider_uuid,
                           organization_slug=organization)
    except AccountError as error:
        raise click.ClickException(f"{error.field}: {error.message}") from error
    if password is None:
        account_mail.queue("invite", user_id=user.id)
        click.echo(f"created {role} {user.id}; an invitation to set a password is on its way")
    else:
        click.echo(f"created {role} {user.id}")
