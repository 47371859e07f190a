"""Stored idempotency answers are encrypted at rest (migration 0013): a hold's token, a webhook
secret or a feed address shown once must not sit in the database in clear text for 24 hours.
Rows stored before 0013 are encrypted by the upgrade and restored by the downgrade."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import IdempotencyRecord
from tests.conftest import _config
from tests.integration.test_booking_api import V1, consult_body, demo, with_key  # noqa: F401 - fixture

BEFORE = "0012"
ANSWER = {"id": "0193a0c0-0000-7000-8000-000000000001", "status": "held", "hold_token": "tok-shown-once-only"}
records = sa.table("idempotency_records", sa.column("id", sa.Uuid()), sa.column("actor_key", sa.String()),
                   sa.column("key", sa.String()), sa.column("request_hash", sa.String()),
                   sa.column("state", sa.String()), sa.column("response_status", sa.Integer()),
                   sa.column("response_body", sa.JSON()), sa.column("expires_at", sa.DateTime(timezone=True)),
                   sa.column("created_at", sa.DateTime(timezone=True)))


def raw_bodies() -> list[str]:
    return [str(value) for value in db.session.execute(sa.text(
        "SELECT response_body FROM idempotency_records WHERE response_body IS NOT NULL")).scalars()]


def test_a_hold_answer_is_stored_encrypted_and_replayed_in_clear(demo, app):
    first = demo.patient.client.post(f"{V1}/bookings", json=consult_body(demo, "10:30"),
                                     headers=with_key(demo.patient, "encrypted-answer"))
    assert first.status_code == 201, first.get_data(as_text=True)
    token = first.get_json()["hold_token"]
    with app.app_context():
        stored = db.session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == "encrypted-answer")).one()
        assert stored.response_body == first.get_json()
        assert raw_bodies() and not any(token in body or first.get_json()["id"] in body for body in raw_bodies())
    again = demo.patient.client.post(f"{V1}/bookings", json=consult_body(demo, "10:30"),
                                     headers=with_key(demo.patient, "encrypted-answer"))
    assert again.status_code == 201 and again.get_json() == first.get_json()


def test_the_migration_encrypts_stored_answers_and_the_downgrade_restores_them(make_database, backend, redis_url):
    app = create_app(_config(make_database(backend), redis_url))
    now = datetime.now(timezone.utc)
    with app.app_context():
        downgrade(revision=BEFORE)
        db.session.execute(records.insert().values(
            id=uuid.uuid4(), actor_key="user:1", key="k", request_hash="0" * 64, state="done", response_status=201,
            response_body=ANSWER, expires_at=now + timedelta(hours=1), created_at=now))
        db.session.commit()
        assert any("tok-shown-once-only" in body for body in raw_bodies())  # clear text before 0013
        db.session.remove()  # (its read snapshot would hide what the migration writes)

        upgrade()
        assert raw_bodies() and not any("tok-shown-once-only" in body for body in raw_bodies())
        assert db.session.scalars(select(IdempotencyRecord.response_body)).one() == ANSWER
        db.session.remove()

        downgrade(revision=BEFORE)
        assert [json.loads(body) if isinstance(body, str) else body for body in db.session.execute(
            select(records.c.response_body)).scalars()] == [ANSWER]
        db.session.remove()
        upgrade()
        db.session.remove()
        db.engine.dispose()
