"""security hardening: hold cap per person, notes and cancel reasons encrypted at rest

Revision ID: 0006
Revises: 0005

- organizations.max_live_holds (default 3): live holds one person may have at once.
- bookings.holder_session / holder_email / holder_phone: keyed digests of who holds a
  portal or API hold, with partial indexes over live holds.
- bookings.notes and bookings.cancel_reason become Fernet tokens (EncryptedText); existing
  rows are encrypted here with the application's key (the migration runs inside
  `flask db upgrade`, so app.crypto is configured), and decrypted again on downgrade.
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

HOLDER_COLUMNS = ("holder_session", "holder_email", "holder_phone")
bookings = sa.table("bookings", sa.column("id", sa.Uuid()), sa.column("notes", sa.Text()),
                    sa.column("cancel_reason", sa.Text()))


def _convert(transform) -> None:
    """Rewrite notes and cancel_reason of every row through `transform` (encrypt or decrypt)."""
    connection = op.get_bind()
    rows = connection.execute(sa.select(bookings.c.id, bookings.c.notes, bookings.c.cancel_reason).where(
        sa.or_(bookings.c.notes.is_not(None), bookings.c.cancel_reason.is_not(None)))).all()
    for row in rows:
        connection.execute(bookings.update().where(bookings.c.id == row.id).values(
            notes=None if row.notes is None else transform(row.notes),
            cancel_reason=None if row.cancel_reason is None else transform(row.cancel_reason)))


def upgrade():
    from app import crypto

    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_live_holds', sa.Integer(), nullable=False, server_default='3'))
        batch_op.create_check_constraint(batch_op.f('ck_organizations_max_live_holds_range'),
                                         'max_live_holds >= 1 AND max_live_holds <= 100')
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        for column in HOLDER_COLUMNS:
            batch_op.add_column(sa.Column(column, sa.String(length=64), nullable=True))
        batch_op.alter_column('cancel_reason', existing_type=sa.String(length=500), type_=sa.Text(),
                              existing_nullable=True)
    for column in HOLDER_COLUMNS:
        op.create_index(f'ix_bookings_held_{column}', 'bookings', [column], unique=False,
                        sqlite_where=sa.text("status = 'held'"), postgresql_where=sa.text("status = 'held'"))
    _convert(crypto.encrypt)


def downgrade():
    from app import crypto

    _convert(crypto.decrypt)
    for column in HOLDER_COLUMNS:
        op.drop_index(f'ix_bookings_held_{column}', table_name='bookings')
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.alter_column('cancel_reason', existing_type=sa.Text(), type_=sa.String(length=500),
                              existing_nullable=True)
        for column in reversed(HOLDER_COLUMNS):
            batch_op.drop_column(column)
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_organizations_max_live_holds_range'), type_='check')
        batch_op.drop_column('max_live_holds')
