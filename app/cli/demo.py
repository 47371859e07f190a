"""`flask demo seed`: the demo clinic, idempotent."""
import click

from app.demo_seed import DEMO_LOGINS, DEMO_PASSWORD, seed_demo, seed_demo_week

demo_cli = click.Group("demo", help="Demo data.")


@demo_cli.command("seed")
def seed() -> None:
    created = seed_demo()
    click.echo("demo clinic created" if created else "demo clinic already present; nothing changed")
    if seed_demo_week():
        click.echo("demo week added: bookings in every state, requests, a block, time off, a phone-only guest")
    click.echo(f"demo logins (password {DEMO_PASSWORD}):")
    for role, email in DEMO_LOGINS:
        click.echo(f"  {role:<10} {email}")
