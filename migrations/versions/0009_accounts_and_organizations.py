"""organizations: country, time zone, language; emails unique per organization; unconfirmed sign-ups

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('country', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=False, server_default='UTC'))
        batch_op.add_column(sa.Column('language', sa.String(length=10), nullable=False, server_default='en'))
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.alter_column('timezone', server_default=None)
        batch_op.alter_column('language', server_default=None)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_unconfirmed', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.drop_constraint(batch_op.f('uq_users_email_index'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_users_organization_id_email_index'),
                                          ['organization_id', 'email_index'])
        batch_op.create_index(batch_op.f('ix_users_email_index'), ['email_index'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('email_unconfirmed', server_default=None)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_email_index'))
        batch_op.drop_constraint(batch_op.f('uq_users_organization_id_email_index'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_users_email_index'), ['email_index'])
        batch_op.drop_column('email_unconfirmed')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('language')
        batch_op.drop_column('timezone')
        batch_op.drop_column('country')
