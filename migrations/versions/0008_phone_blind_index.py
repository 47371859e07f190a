"""phone and guest-email blind indexes for the patient directory

Adds `patient_profiles.phone_index`, `bookings.guest_phone_index`,
`bookings.guest_email_index` and the `phone_lookup_tokens` table, then fills them
for the rows that exist. The values are keyed digests of decrypted data, so the
backfill decrypts with the application's key: `flask db upgrade` runs inside the
app (Flask-Migrate), where app.crypto is configured. Run without it (offline SQL),
the backfill is skipped and `flask patients reindex` does it (docs/patient-directory.md).

Revision ID: 0008
Revises: 0006
"""
import logging
import uuid

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade():
    with op.batch_alter_table('patient_profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_index', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_patient_profiles_phone_index'), ['phone_index'], unique=False)
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('guest_phone_index', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('guest_email_index', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_bookings_guest_phone_index'), ['guest_phone_index'], unique=False)
        batch_op.create_index(batch_op.f('ix_bookings_guest_email_index'), ['guest_email_index'], unique=False)
    op.create_table(
        'phone_lookup_tokens',
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('patient_profile_id', sa.Uuid(), nullable=True),
        sa.Column('booking_id', sa.Uuid(), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.CheckConstraint('(patient_profile_id IS NULL) <> (booking_id IS NULL)',
                           name=op.f('ck_phone_lookup_tokens_one_owner')),
        sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'],
                                name=op.f('fk_phone_lookup_tokens_booking_id_bookings'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                                name=op.f('fk_phone_lookup_tokens_organization_id_organizations')),
        sa.ForeignKeyConstraint(['patient_profile_id'], ['patient_profiles.id'],
                                name=op.f('fk_phone_lookup_tokens_patient_profile_id_patient_profiles'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_phone_lookup_tokens')),
    )
    with op.batch_alter_table('phone_lookup_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phone_lookup_tokens_booking_id'), ['booking_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_phone_lookup_tokens_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_phone_lookup_tokens_organization_id_token'),
                              ['organization_id', 'token'], unique=False)
        batch_op.create_index(batch_op.f('ix_phone_lookup_tokens_patient_profile_id'), ['patient_profile_id'],
                              unique=False)
    _backfill()


def _backfill():
    """Index the rows that exist, with plain tables (the models may have moved on since)."""
    from app import crypto

    try:
        crypto.blind_index("probe")
    except RuntimeError:
        log.warning("app.crypto is not configured: run `flask patients reindex` to fill the phone look-ups")
        return
    from app.ids import uuid7
    from app.patients.phone_index import phone_digests

    bind = op.get_bind()
    profiles = sa.table('patient_profiles', sa.column('id', sa.Uuid()), sa.column('organization_id', sa.Uuid()),
                        sa.column('phone', sa.Text()), sa.column('phone_index', sa.String()))
    bookings = sa.table('bookings', sa.column('id', sa.Uuid()), sa.column('organization_id', sa.Uuid()),
                        sa.column('guest_phone', sa.Text()), sa.column('guest_email', sa.Text()),
                        sa.column('guest_phone_index', sa.String()), sa.column('guest_email_index', sa.String()))
    tokens = sa.table('phone_lookup_tokens', sa.column('id', sa.Uuid()), sa.column('organization_id', sa.Uuid()),
                      sa.column('token', sa.String()), sa.column('patient_profile_id', sa.Uuid()),
                      sa.column('booking_id', sa.Uuid()))

    def token_rows(owner: str, owner_id: uuid.UUID, org_id: uuid.UUID, digests: list[str]) -> list[dict]:
        return [{"id": uuid7(), "organization_id": org_id, "token": d, "patient_profile_id": None,
                 "booking_id": None, owner: owner_id} for d in digests]

    rows: list[dict] = []
    for row in bind.execute(sa.select(profiles.c.id, profiles.c.organization_id, profiles.c.phone)
                            .where(profiles.c.phone.is_not(None))).all():
        full, digests = phone_digests(crypto.decrypt(row.phone))
        bind.execute(profiles.update().where(profiles.c.id == row.id).values(phone_index=full))
        rows += token_rows("patient_profile_id", row.id, row.organization_id, digests)
    for row in bind.execute(sa.select(bookings.c.id, bookings.c.organization_id, bookings.c.guest_phone,
                                      bookings.c.guest_email)
                            .where(bookings.c.guest_phone.is_not(None) | bookings.c.guest_email.is_not(None))).all():
        full, digests = phone_digests(crypto.decrypt(row.guest_phone)) if row.guest_phone else (None, [])
        email = crypto.email_index(crypto.decrypt(row.guest_email)) if row.guest_email else None
        bind.execute(bookings.update().where(bookings.c.id == row.id)
                     .values(guest_phone_index=full, guest_email_index=email))
        rows += token_rows("booking_id", row.id, row.organization_id, digests)
    if rows:
        bind.execute(tokens.insert(), rows)


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+ and PostgreSQL): batch mode would rebuild `bookings`,
    # which rows of other tables reference, and SQLite refuses that once there is data.
    op.drop_table('phone_lookup_tokens')
    op.drop_index(op.f('ix_bookings_guest_email_index'), table_name='bookings')
    op.drop_index(op.f('ix_bookings_guest_phone_index'), table_name='bookings')
    op.execute('ALTER TABLE bookings DROP COLUMN guest_email_index')
    op.execute('ALTER TABLE bookings DROP COLUMN guest_phone_index')
    op.drop_index(op.f('ix_patient_profiles_phone_index'), table_name='patient_profiles')
    op.execute('ALTER TABLE patient_profiles DROP COLUMN phone_index')
