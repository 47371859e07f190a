"""google push channels: one row per events.watch channel (token hashed)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('calendar_push_channels',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=500), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['calendar_connections.id'], name=op.f('fk_calendar_push_channels_connection_id_calendar_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_calendar_push_channels_organization_id_organizations')),
    sa.ForeignKeyConstraint(['source_id'], ['calendar_sources.id'], name=op.f('fk_calendar_push_channels_source_id_calendar_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_push_channels'))
    )
    with op.batch_alter_table('calendar_push_channels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_push_channels_connection_id'), ['connection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_calendar_push_channels_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_calendar_push_channels_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_calendar_push_channels_source_id'), ['source_id'], unique=False)


def downgrade():
    with op.batch_alter_table('calendar_push_channels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_push_channels_source_id'))
        batch_op.drop_index(batch_op.f('ix_calendar_push_channels_organization_id'))
        batch_op.drop_index(batch_op.f('ix_calendar_push_channels_expires_at'))
        batch_op.drop_index(batch_op.f('ix_calendar_push_channels_connection_id'))
    op.drop_table('calendar_push_channels')
