"""signed-out sessions: a sign-in's cookies stop working server-side when it signs out

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('signed_out_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_signed_out_sessions'))
    )
    with op.batch_alter_table('signed_out_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signed_out_sessions_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('signed_out_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signed_out_sessions_expires_at'))
    op.drop_table('signed_out_sessions')
