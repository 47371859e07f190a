"""`flask patients reindex`: rebuild the phone and email blind indexes (after a key change)."""
import click

from app.database import write_transaction
from app.extensions import db

patients_cli = click.Group("patients", help="Patient records.")


@patients_cli.command("reindex")
def reindex() -> None:
    from app.patients.phone_index import reindex_all

    with write_transaction():
        count = reindex_all(db.session())
    click.echo(f"reindexed the phone and email look-ups of {count} patient profiles and guest bookings")
