"""outbox: booking events are handled (their work is in the database) apart from published

Revision ID: 0005
Revises: 0004

`handled_at` is set in the transaction that created the work an event causes
(notification rows; calendar write-back links later). Events published before
this revision had their follow-up job queued then, so they count as handled
from that moment; unpublished ones stay open and the relay handles them.
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('booking_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE booking_events SET handled_at = published_at WHERE published_at IS NOT NULL")
    with op.batch_alter_table('booking_events', schema=None) as batch_op:
        batch_op.create_index('ix_booking_events_unhandled', ['created_at'], unique=False,
                              sqlite_where=sa.text('handled_at IS NULL'),
                              postgresql_where=sa.text('handled_at IS NULL'))


def downgrade():
    with op.batch_alter_table('booking_events', schema=None) as batch_op:
        batch_op.drop_index('ix_booking_events_unhandled', sqlite_where=sa.text('handled_at IS NULL'),
                            postgresql_where=sa.text('handled_at IS NULL'))
        batch_op.drop_column('handled_at')
