"""booking seats and the PostgreSQL overbooking guard

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seat', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(batch_op.f('ck_bookings_seat_non_negative'), 'seat IS NULL OR seat >= 0')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS btree_gist')
        op.execute(
            "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_provider_seat_overlap "
            "EXCLUDE USING gist (provider_id WITH =, seat WITH =, tstzrange(block_start_at, block_end_at, '[)') WITH &&) "
            "WHERE (status IN ('held', 'pending', 'confirmed'))"
        )


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE bookings DROP CONSTRAINT ex_bookings_provider_seat_overlap')
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_bookings_seat_non_negative'), type_='check')
        batch_op.drop_column('seat')
