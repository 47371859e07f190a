"""notification sending leases and language

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

OLD = "status IN ('pending', 'sent', 'failed', 'cancelled')"
NEW = "status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')"


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('language', sa.String(length=10), nullable=False, server_default='en'))
        batch_op.drop_constraint(batch_op.f('ck_notifications_status_valid'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_notifications_status_valid'), NEW)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('language', server_default=None)


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_notifications_status_valid'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_notifications_status_valid'), OLD)
        batch_op.drop_column('language')
        batch_op.drop_column('locked_until')
