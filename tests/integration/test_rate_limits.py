"""docs/architecture.md limits: user GETs and booking mutations are limited per client; 429
RATE_LIMITED with Retry-After, counted in Redis so every web node shares them."""
from __future__ import annotations

import uuid

import pytest

from app import create_app
from app.extensions import db
from tests.conftest import _config


@pytest.fixture
def limited_app(app, redis_url, monkeypatch):
    config = _config(app.config["SQLALCHEMY_DATABASE_URI"], redis_url)
    config.update(RATELIMIT_ENABLED=True, RATELIMIT_USER_READS="3/minute", RATELIMIT_BOOKING_WRITES="2/minute",
                  RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}")
    limited = create_app(config)
    yield limited
    with limited.app_context():
        db.engine.dispose()


def test_user_reads_beyond_the_limit_get_429_with_retry_after(limited_app, db_session):
    client = limited_app.test_client()
    answers = [client.get("/api/v1/appointment-types") for _ in range(4)]
    assert all(a.status_code != 429 for a in answers[:3])
    assert answers[3].status_code == 429
    assert answers[3].json["error"]["code"] == "RATE_LIMITED"
    assert int(answers[3].headers["Retry-After"]) > 0


def test_booking_mutations_have_their_own_tighter_limit(limited_app, db_session):
    client = limited_app.test_client()
    body = {"provider_id": str(uuid.uuid4()), "appointment_type_id": str(uuid.uuid4()),
            "start": "2030-01-07T09:00:00+00:00", "name": "Rita", "email": "rita@example.com"}
    answers = [client.post("/api/v1/bookings", json=body, headers={"Idempotency-Key": f"k{i}"}) for i in range(3)]
    assert all(a.status_code != 429 for a in answers[:2])
    assert answers[2].status_code == 429
    assert answers[2].json["error"]["code"] == "RATE_LIMITED"
    assert "Retry-After" in answers[2].headers


def test_health_and_pages_are_not_limited(limited_app, db_session):
    client = limited_app.test_client()
    assert all(client.get("/healthz").status_code == 200 for _ in range(6))
