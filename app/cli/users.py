"""`flask users create --email --password --role [--provider-id]` (API.md)."""
import uuid

import click

from app.accounts import AccountError, create_user
from app.models import ROLES

users_cli = click.Group("users", help="Manage user accounts.")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--name", "full_name", default=None, help="Full name shown in the app.")
@click.option("--provider-id", default=None, help="Provider this user signs in as (role provider).")
def create(email: str, password: str, role: str, full_name: str | None, provider_id: str | None) -> None:
    try:
        provider_uuid = uuid.UUID(provider_id) if provider_id else None
    except ValueError as exc:
        raise click.BadParameter("not a UUID", param_hint="--provider-id") from exc
    try:
        user = create_user(email=email, password=password, role=role, full_name=full_name, provider_id=provider_uuid)
    except AccountError as error:
        raise click.ClickException(f"{error.field}: {error.message}") from error
    click.echo(f"created {role} {user.id}")
