"""external calendars: sources, health, lease, write-back links, webhook deliveries, feed tokens

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OLD_KINDS, NEW_KINDS = "kind IN ('google', 'caldav', 'ics')", "kind IN ('google', 'caldav', 'ics', 'webhook')"
OLD_STATUSES = "status IN ('active', 'error', 'disabled')"
NEW_STATUSES = "status IN ('pending', 'ok', 'error', 'reauth_required')"


def upgrade():
    op.create_table('calendar_sources',
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('external_id', sa.String(length=1000), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('blocks_time', sa.Boolean(), nullable=False),
    sa.Column('is_destination', sa.Boolean(), nullable=False),
    sa.Column('sync_token', sa.Text(), nullable=True),
    sa.Column('ctag', sa.String(length=500), nullable=True),
    sa.Column('etags', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['calendar_connections.id'], name=op.f('fk_calendar_sources_connection_id_calendar_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_calendar_sources_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_sources')),
    sa.UniqueConstraint('connection_id', 'external_id', name=op.f('uq_calendar_sources_connection_id_external_id'))
    )
    with op.batch_alter_table('calendar_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_sources_connection_id'), ['connection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_calendar_sources_organization_id'), ['organization_id'], unique=False)

    op.create_table('calendar_webhook_deliveries',
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('delivery_id', sa.String(length=255), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('applied', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['calendar_connections.id'], name=op.f('fk_calendar_webhook_deliveries_connection_id_calendar_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_webhook_deliveries')),
    sa.UniqueConstraint('connection_id', 'delivery_id', name=op.f('uq_calendar_webhook_deliveries_connection_id_delivery_id'))
    )
    with op.batch_alter_table('calendar_webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_webhook_deliveries_received_at'), ['received_at'], unique=False)

    op.create_table('calendar_event_links',
    sa.Column('booking_id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('external_uid', sa.String(length=500), nullable=False),
    sa.Column('resource_href', sa.String(length=2000), nullable=True),
    sa.Column('etag', sa.String(length=500), nullable=True),
    sa.Column('desired_state', sa.String(length=20), nullable=False),
    sa.Column('desired_version', sa.Integer(), nullable=False),
    sa.Column('applied_state', sa.String(length=20), nullable=True),
    sa.Column('applied_version', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('flagged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('flag_reason', sa.String(length=200), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("applied_state IS NULL OR applied_state IN ('present', 'absent')", name=op.f('ck_calendar_event_links_applied_state_valid')),
    sa.CheckConstraint("desired_state IN ('present', 'absent')", name=op.f('ck_calendar_event_links_desired_state_valid')),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_calendar_event_links_booking_id_bookings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['connection_id'], ['calendar_connections.id'], name=op.f('fk_calendar_event_links_connection_id_calendar_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_calendar_event_links_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_event_links')),
    sa.UniqueConstraint('booking_id', 'connection_id', name=op.f('uq_calendar_event_links_booking_id_connection_id'))
    )
    with op.batch_alter_table('calendar_event_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_event_links_connection_id_external_uid'), ['connection_id', 'external_uid'], unique=False)
        batch_op.create_index(batch_op.f('ix_calendar_event_links_organization_id'), ['organization_id'], unique=False)

    with op.batch_alter_table('calendar_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_sync_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sync_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('full_sync_due', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('consecutive_failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('poll_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_calendar_connections_next_sync_at'), ['next_sync_at'], unique=False)
        batch_op.drop_constraint(batch_op.f('ck_calendar_connections_kind_valid'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_calendar_connections_status_valid'), type_='check')
    op.execute("UPDATE calendar_connections SET status = CASE status WHEN 'active' THEN 'ok' "
               "WHEN 'disabled' THEN 'error' ELSE status END")
    with op.batch_alter_table('calendar_connections', schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f('ck_calendar_connections_kind_valid'), NEW_KINDS)
        batch_op.create_check_constraint(batch_op.f('ck_calendar_connections_status_valid'), NEW_STATUSES)
        batch_op.create_check_constraint(batch_op.f('ck_calendar_connections_failures_non_negative'),
                                         'consecutive_failures >= 0')
    with op.batch_alter_table('calendar_connections', schema=None) as batch_op:
        batch_op.alter_column('full_sync_due', server_default=None)
        batch_op.alter_column('consecutive_failures', server_default=None)

    with op.batch_alter_table('external_busy_times', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_id', sa.Uuid(), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_external_busy_times_connection_id_external_uid_start_at'), type_='unique')
        batch_op.create_index(batch_op.f('ix_external_busy_times_source_id_external_uid'), ['source_id', 'external_uid'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_external_busy_times_connection_id_source_id_external_uid_start_at'), ['connection_id', 'source_id', 'external_uid', 'start_at'])
        batch_op.create_foreign_key(batch_op.f('fk_external_busy_times_source_id_calendar_sources'), 'calendar_sources', ['source_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('feed_nonce', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('feed_token_hash', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_providers_feed_token_hash'), ['feed_token_hash'])



def downgrade():
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_providers_feed_token_hash'), type_='unique')
        batch_op.drop_column('feed_token_hash')
        batch_op.drop_column('feed_nonce')

    with op.batch_alter_table('external_busy_times', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_external_busy_times_source_id_calendar_sources'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_external_busy_times_connection_id_source_id_external_uid_start_at'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_external_busy_times_source_id_external_uid'))
        batch_op.create_unique_constraint(batch_op.f('uq_external_busy_times_connection_id_external_uid_start_at'), ['connection_id', 'external_uid', 'start_at'])
        batch_op.drop_column('source_id')

    op.execute("DELETE FROM calendar_connections WHERE kind = 'webhook'")
    op.execute("UPDATE calendar_connections SET status = CASE status WHEN 'ok' THEN 'active' "
               "WHEN 'pending' THEN 'active' ELSE 'error' END")
    with op.batch_alter_table('calendar_connections', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_calendar_connections_failures_non_negative'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_calendar_connections_kind_valid'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_calendar_connections_status_valid'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_calendar_connections_kind_valid'), OLD_KINDS)
        batch_op.create_check_constraint(batch_op.f('ck_calendar_connections_status_valid'), OLD_STATUSES)
        batch_op.drop_index(batch_op.f('ix_calendar_connections_next_sync_at'))
        batch_op.drop_column('lease_until')
        batch_op.drop_column('lease_owner')
        batch_op.drop_column('poll_seconds')
        batch_op.drop_column('consecutive_failures')
        batch_op.drop_column('full_sync_due')
        batch_op.drop_column('sync_requested_at')
        batch_op.drop_column('next_sync_at')
        batch_op.drop_column('last_attempt_at')
        batch_op.drop_column('url')

    with op.batch_alter_table('calendar_event_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_event_links_organization_id'))
        batch_op.drop_index(batch_op.f('ix_calendar_event_links_connection_id_external_uid'))

    op.drop_table('calendar_event_links')
    with op.batch_alter_table('calendar_webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_webhook_deliveries_received_at'))

    op.drop_table('calendar_webhook_deliveries')
    with op.batch_alter_table('calendar_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_sources_organization_id'))
        batch_op.drop_index(batch_op.f('ix_calendar_sources_connection_id'))

    op.drop_table('calendar_sources')
