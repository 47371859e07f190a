"""`flask organizations create --name N --slug S [--timezone Z] [--country CC] [--language L]`
and `flask organizations list` (docs/api.md, "Organizations, accounts and passwords")."""
import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.clinic.organization import LANGUAGES, create_organization
from app.errors import BookwellError
from app.extensions import db
from app.models import Organization

organizations_cli = AppGroup("organizations", help="Clinics (tenants) in this database.")


@organizations_cli.command("create")
@click.option("--name", required=True, help="The clinic's name, shown to patients.")
@click.option("--slug", required=True, help="Short id for URLs (/o/<slug>/) and --organization.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone, e.g. Europe/Berlin.")
@click.option("--country", default=None, help="Two-letter country: region of phone numbers without +code.")
@click.option("--language", default="en", show_default=True, type=click.Choice(LANGUAGES),
              help="Default language of new patients' messages.")
def create(name: str, slug: str, timezone: str, country: str | None, language: str) -> None:
    try:
        org = create_organization(name=name, slug=slug, timezone=timezone, country=country, language=language)
    except BookwellError as error:
        fields = (error.details or {}).get("fields", {})
        raise click.ClickException("; ".join(f"--{k}: {v}" for k, v in fields.items()) or error.message) from error
    click.echo(f"created organization {org.slug} {org.id}")


@organizations_cli.command("list")
def list_() -> None:
    for org in db.session.scalars(select(Organization).order_by(Organization.created_at)):
        click.echo(f"{org.slug:<24} {org.name}  ({org.timezone}, {org.country or '-'}, {org.language})")
