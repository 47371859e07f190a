"""/healthz, /readyz, X-Request-Id, log masking and the error pages."""
from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from app import create_app
from app.extensions import db
from app.models import JobHeartbeat, utcnow
from app.ops.logging_setup import mask_personal_data
from tests.conftest import _config
from tests.integration.helpers import page_text

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def test_healthz_says_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_database_and_redis_ok_and_a_worker_that_never_beat(app, client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["database"]["dialect"] == app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0].split("+")[0]
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["worker"] == {"ok": False, "last_heartbeat": None, "status": "never"}


@pytest.mark.parametrize(
    ("age", "status", "ok"),
    [
        (timedelta(seconds=5), "ok", True),  # a heartbeat seconds ago: the worker is alive
        (timedelta(seconds=25), "ok", True),  # one or two beats (every ~10 s) late: still alive
        (timedelta(seconds=40), "stale", False),  # three beats missed: reported at once, not after minutes
        (timedelta(hours=1), "stale", False),  # an hour of silence: the worker is gone
    ],
)
def test_readyz_reports_the_worker_heartbeat_age(app, client, db_session, age, status, ok):
    with app.app_context():
        db.session.add(JobHeartbeat(name="heartbeat", last_run_at=utcnow() - age, runs=7))
        db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 200  # the worker informs, it does not gate readiness
    worker = response.json["checks"]["worker"]
    assert (worker["status"], worker["ok"], worker["runs"]) == (status, ok, 7)
    assert worker["last_heartbeat"].endswith("Z")
    assert abs(worker["age_seconds"] - age.total_seconds()) < 60


@pytest.mark.parametrize(("age", "status"), [(timedelta(seconds=100), "ok"), (timedelta(minutes=4), "stale")])
def test_readyz_reports_the_cron_heartbeat_job_apart_from_the_worker(app, client, db_session, age, status):
    with app.app_context():
        db.session.add(JobHeartbeat(name="cron", last_run_at=utcnow() - age, runs=3))
        db.session.commit()
    body = client.get("/readyz").json
    assert (body["checks"]["cron"]["status"], body["checks"]["cron"]["runs"]) == (status, 3)
    assert body["checks"]["worker"]["status"] == "never"  # the job's run is not the worker's beat


def test_readyz_is_503_when_redis_is_unreachable(app, db_session, tmp_path):
    dead = f"unix://{tmp_path / 'no-redis-here.sock'}"
    broken = create_app(_config(app.config["SQLALCHEMY_DATABASE_URI"], dead, tmp_path / "instance"))
    try:
        response = broken.test_client().get("/readyz")
        assert response.status_code == 503
        body = response.json
        assert body["status"] == "not_ready"
        assert body["checks"]["redis"]["ok"] is False
        assert body["checks"]["redis"]["error"]
        assert body["checks"]["database"]["ok"] is True
    finally:
        with broken.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/healthz", 200),  # a plain success
        ("/no/such/page", 404),  # an error page
        ("/provider/", 302),  # a redirect to sign-in
    ],
)
def test_every_response_carries_a_request_id(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert GENERATED_ID.match(response.headers["X-Request-Id"])


def test_a_safe_client_request_id_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"


def test_a_safe_client_request_id_is_echoed_even_when_csrf_rejects_the_request(client):
    response = client.post("/auth/login", data={"email": "a@example.com"}, headers={"X-Request-Id": "abc-123"})
    assert response.status_code == 400
    assert response.headers["X-Request-Id"] == "abc-123"


@pytest.mark.parametrize(
    "unsafe",
    [
        "abc 123",  # spaces could split a log line
        "a" * 300,  # far too long to keep
        "abc\u00e9",  # outside the safe ASCII set
    ],
)
def test_an_unsafe_client_request_id_is_replaced_by_a_generated_one(client, unsafe):
    response = client.get("/healthz", headers={"X-Request-Id": unsafe})
    assert response.headers["X-Request-Id"] != unsafe
    assert GENERATED_ID.match(response.headers["X-Request-Id"])


def test_log_lines_carry_the_request_id(client, caplog):
    caplog.set_level(logging.INFO)
    response = client.get("/healthz", headers={"X-Request-Id": "trace-42"})
    records = [r for r in caplog.records if r.getMessage() == "GET /healthz -> 200"]
    assert len(records) == 1
    assert records[0].request_id == response.headers["X-Request-Id"] == "trace-42"


def test_the_request_log_line_keeps_neither_a_query_nor_a_links_secret(client, caplog):
    caplog.set_level(logging.INFO)
    client.get("/auth/reset/a-secret-reset-token-123")
    client.get("/calendar/feed/a-secret-feed-token-456.ics")
    client.get("/manage/a-secret-manage-token-789")
    client.get("/frontdesk/patients?q=olivia@riverside.example")
    lines = [r.getMessage() for r in caplog.records if " -> " in r.getMessage()]
    assert any(line.startswith("GET /auth/reset/[token] -> ") for line in lines), lines
    assert any(line.startswith("GET /calendar/feed/[token].ics -> ") for line in lines), lines
    assert any(line.startswith("GET /manage/[token] -> ") for line in lines), lines
    assert any(line.startswith("GET /frontdesk/patients -> ") for line in lines), lines
    assert not any("secret" in line or "olivia" in line or "?" in line for line in lines), lines


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        # an email address and an international phone number lose their middle
        ("mail paula@example.com phone +49 151 12345678", ["paula@example.com", "+49 151 12345678", "12345678"],
         ["mail ", "@example.com", "phone "]),
        # a bare long digit run is treated as a phone number too
        ("called 015112345678 twice", ["015112345678"], ["called ", " twice"]),
        # an IP address is not personal data here and stays readable
        ("client 127.0.0.1 connected", [], ["client 127.0.0.1 connected"]),
        # timestamps stay readable
        ("at 2026-11-21 10:19:34 UTC", [], ["at 2026-11-21 10:19:34 UTC"]),
    ],
)
def test_log_masking_hides_emails_and_phone_numbers_but_keeps_ips_and_times(text, gone, kept):
    masked = mask_personal_data(text)
    for secret in gone:
        assert secret not in masked
    for visible in kept:
        assert visible in masked


def test_personal_data_in_a_log_message_is_masked_in_the_record(app, caplog):
    caplog.set_level(logging.INFO)
    with app.test_request_context("/"):
        logging.getLogger("app.test").info("sent reminder to %s", "paula@example.com")
    record = next(r for r in caplog.records if r.name == "app.test")
    assert "paula@example.com" not in record.getMessage()
    assert "p***@example.com" in record.getMessage()


@pytest.mark.parametrize(
    ("path", "accept", "json"),
    [
        ("/no/such/page", "text/html", False),  # a person gets the styled page
        ("/api/nothing", "text/html", True),  # anything under /api/ is for programs
        ("/no/such/page", "application/json", True),  # a program asking for JSON gets JSON
    ],
)
def test_unknown_url_gives_a_styled_page_or_the_json_envelope(client, path, accept, json):
    response = client.get(path, headers={"Accept": accept})
    assert response.status_code == 404
    if json:
        assert response.is_json
        assert response.json["error"]["code"] == "NOT_FOUND"
        assert response.json["error"]["message"] == "We couldn't find that page"
    else:
        assert response.mimetype == "text/html"
        body = page_text(response)
        assert "We couldn't find that page" in body
        assert 'class="error-page"' in body

