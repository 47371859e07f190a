"""idempotency answers encrypted at rest

Revision ID: 0013
Revises: 0012

idempotency_records.response_body kept each first answer as plain JSON for 24 hours, and some
answers carry what is shown only once: a hold's token, a webhook connection's signing secret,
a rotated feed address, besides personal data. The column becomes one Fernet token of the JSON
(EncryptedJSON); rows already stored are encrypted here with the application's key (the
migration runs inside `flask db upgrade`, so app.crypto is configured), and decrypted again on
downgrade. idempotency_records carries no triggers, so SQLite's table rebuild loses nothing.
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

records = sa.table("idempotency_records", sa.column("id", sa.Uuid()), sa.column("response_body", sa.Text()))


def _convert(transform) -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(records.c.id, records.c.response_body).where(
        records.c.response_body.is_not(None))).all()
    for row in rows:
        connection.execute(records.update().where(records.c.id == row.id).values(
            response_body=transform(row.response_body)))


def _encrypt(text: str) -> str:
    from app import crypto

    return crypto.encrypt(json.dumps(json.loads(text), separators=(",", ":")))


def _decrypt(token: str) -> str:
    from app import crypto

    return crypto.decrypt(token)


def upgrade():
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.alter_column('response_body', existing_type=sa.JSON(), type_=sa.Text(), existing_nullable=True,
                              postgresql_using='response_body::text')
    _convert(_encrypt)


def downgrade():
    _convert(_decrypt)
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.alter_column('response_body', existing_type=sa.Text(), type_=sa.JSON(), existing_nullable=True,
                              postgresql_using='response_body::json')
