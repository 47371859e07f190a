"""`flask availability reconcile [--provider ID] [--from DATE --to DATE] [--full]`."""
import uuid
from datetime import date

import click

from app.availability.reconcile import reconcile

availability_cli = click.Group("availability", help="Materialized availability.")


@availability_cli.command("reconcile")
@click.option("--provider", "provider_ids", multiple=True, help="Provider id (repeatable); default: all.")
@click.option("--from", "first_day", default=None, help="First local date, YYYY-MM-DD (default: yesterday).")
@click.option("--to", "last_day", default=None, help="Last local date, YYYY-MM-DD (default: the horizon).")
@click.option("--full", is_flag=True, help="Recompute every provider, even those unchanged since the last run.")
def reconcile_command(provider_ids: tuple[str, ...], first_day: str | None, last_day: str | None,
                      full: bool) -> None:
    try:
        ids = [uuid.UUID(p) for p in provider_ids] or None
        first = date.fromisoformat(first_day) if first_day else None
        last = date.fromisoformat(last_day) if last_day else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if first and last and last < first:
        raise click.BadParameter("--to is before --from")
    report = reconcile(ids, first, last, full=full)
    click.echo(f"reconciled {report.providers} providers ({report.skipped} unchanged since the last run, "
               f"skipped); {report.changed_rows} slot rows changed")
