"""The hardened edges (docs/security.md): security headers and the CSP on every response,
templates without inline code, /metrics behind a token (or loopback), the client address
behind TRUSTED_PROXIES, anonymous Idempotency-Keys scoped to the browser session (never
the address), page forms and registration rate limited, a stable Message-ID per
notification, and booking notes and cancel reasons encrypted at rest (also by the
migration for rows that existed before it).
"""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import create_engine, text

from app import create_app, crypto
from app.extensions import db
from app.models import Booking
from app.notifications import email as mail
from tests.conftest import TEST_SECRET, _config
from tests.integration.api_helpers import Api, assert_error, cheap_hashing
from tests.integration.helpers import csrf_token, register, seed_demo_clinic
from tests.integration.test_hold_cap import free_slots, guest_body, page_hold
from tests.processes import ROOT, flask_cli, process_env

V1 = "/api/v1"


@pytest.fixture
def demo(app, db_session, monkeypatch):
    seed_demo_clinic(app, monkeypatch)
    cheap_hashing(monkeypatch)


def other_app(app, redis_url, **settings):
    config = _config(app.config["SQLALCHEMY_DATABASE_URI"], redis_url)
    config.update(RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}", **settings)
    return create_app(config)


# --- headers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/book", "/auth/login", "/api/v1/appointment-types", "/no-such-page",
                                  "/healthz"])
def test_every_answer_carries_the_security_headers_and_no_store(app, demo, client, path):
    answer = client.get(path)
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert "unsafe-inline" not in directives["script-src"] and "unsafe-inline" not in directives["style-src"]
    assert directives["style-src-attr"] == "'unsafe-inline'"  # positions on the agenda grid, nothing else
    assert "unsafe-eval" not in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"


def test_static_files_keep_their_caching_but_get_the_headers(app, demo, client):
    answer = client.get("/static/vendor/htmx.min.js")
    assert answer.status_code == 200
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" not in answer.headers.get("Cache-Control", "")
    answer.close()


def test_pages_carry_no_inline_script_style_or_event_handler():
    """The CSP blocks them, silently breaking the page: keep behaviour in static/js."""
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        if "notifications" in path.parts:  # email bodies, never served to a browser under our CSP
            continue
        source = path.read_text()
        # Style attributes are allowed (style-src-attr): the agenda grid positions blocks with them.
        for pattern in (r"<script(?![^>]*\bsrc=)[^>]*>", r"\son[a-z]+\s*=", r"<style\b",
                        r"javascript:", r"hx-on"):
            if re.search(pattern, source, re.IGNORECASE):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert offenders == []


# --- /metrics ------------------------------------------------------------------------------------

def test_metrics_without_a_token_are_for_loopback_only(app, demo, client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403


def test_metrics_with_a_token_need_it_from_everyone(app, redis_url, db_session):
    guarded = other_app(app, redis_url, METRICS_TOKEN="s3cret-metrics-token")
    client = guarded.test_client()
    assert client.get("/metrics").status_code == 401  # loopback too
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"},
                        environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert answer.status_code == 200 and b"bookings_total" in answer.data


# --- proxies -----------------------------------------------------------------------------------

def test_trusted_proxies_give_the_client_address_and_nothing_more(app, redis_url, db_session):
    """One proxy: its X-Forwarded-For entry is the client. The /metrics loopback rule shows
    which address the app believes."""
    behind = other_app(app, redis_url, TRUSTED_PROXIES=1).test_client()
    direct = other_app(app, redis_url).test_client()
    from_outside = {"X-Forwarded-For": "203.0.113.9"}
    assert behind.get("/metrics", headers=from_outside).status_code == 403  # the client is outside
    assert behind.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    # A client cannot forge its way in by prepending entries: only the last hop counts.
    forged = {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}
    assert behind.get("/metrics", headers=forged).status_code == 403
    # Without the setting the header is ignored.
    assert direct.get("/metrics", headers=from_outside).status_code == 200


def test_behind_a_proxy_each_client_has_its_own_registration_budget(app, redis_url, db_session):
    limited = other_app(app, redis_url, TRUSTED_PROXIES=1, RATELIMIT_ENABLED=True,
                        RATELIMIT_REGISTRATIONS="2/hour").test_client()
    body = {"email": "000", "password": "x", "name": "Rita"}

    def attempt(address):
        return limited.post(f"{V1}/auth/register", json=body, headers={"X-Forwarded-For": address,
                                                                       "Idempotency-Key": uuid.uuid4().hex})

    assert [attempt("198.51.100.1").status_code for _ in range(2)] == [422, 422]
    assert_error(attempt("198.51.100.1"), 429, "RATE_LIMITED")
    assert attempt("198.51.100.2").status_code == 422


# --- rate limits on page forms -----------------------------------------------------------------

def test_the_portal_hold_form_is_rate_limited(app, redis_url, demo):
    limited = other_app(app, redis_url, RATELIMIT_ENABLED=True, RATELIMIT_PAGE_BOOKINGS="2/minute")
    browser = limited.test_client()
    slots = free_slots(app, 3)
    answers = [page_hold(browser, slot, n) for n, slot in enumerate(slots)]
    assert [a.status_code for a in answers[:2]] == [303, 303]
    assert answers[2].status_code == 429 and "Retry-After" in answers[2].headers
    assert "Too many requests" in answers[2].get_data(as_text=True)


def test_registration_page_is_rate_limited(app, redis_url, demo):
    limited = other_app(app, redis_url, RATELIMIT_ENABLED=True, RATELIMIT_REGISTRATIONS="2/hour")
    browser = limited.test_client()
    answers = [register(browser, email=f"rita{n}@example.com", password="short") for n in range(3)]
    assert [a.status_code for a in answers] == [422, 422, 429]


def test_the_registration_page_and_api_share_one_budget_and_only_refusals_say_retry_after(app, redis_url, demo):
    limited = other_app(app, redis_url, RATELIMIT_ENABLED=True, RATELIMIT_REGISTRATIONS="2/hour")
    browser = limited.test_client()
    api = limited.test_client().post(f"{V1}/auth/register", json={"email": "000", "password": "x", "name": "Rita"},
                       headers={"Idempotency-Key": uuid.uuid4().hex})
    page = register(browser, email="rita@example.com", password="short")
    assert (api.status_code, page.status_code) == (422, 422)
    assert "Retry-After" not in api.headers and "Retry-After" not in page.headers
    refused = register(browser, email="rita2@example.com", password="short")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


# --- idempotency scope -------------------------------------------------------------------------

def _browser(app, session_id: str):
    client = app.test_client()
    with client.session_transaction() as session:
        session["once_id"] = session_id
    return client


def test_a_second_browser_at_the_same_address_never_gets_the_first_ones_hold(app, demo):
    slot = free_slots(app, 1)[0]
    body, key = guest_body(slot), {"Idempotency-Key": "same-key-1"}
    first, second = _browser(app, "browser-one"), _browser(app, "browser-two")  # both 127.0.0.1
    held = first.post(f"{V1}/bookings", json=body, headers=key)
    assert held.status_code == 201

    replayed = first.post(f"{V1}/bookings", json=body, headers=key)
    other = second.post(f"{V1}/bookings", json=body, headers=key)

    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert replayed.json["hold_token"] == held.json["hold_token"]
    assert "Idempotent-Replayed" not in other.headers
    assert "hold_token" not in (other.get_json() or {})
    assert other.json["error"]["code"] in ("SLOT_FULL", "SLOT_UNAVAILABLE")


def test_cookieless_confirms_are_scoped_by_their_hold_token(app, demo):
    slots = free_slots(app, 2)
    api = Api(app.test_client())
    one = api.created(f"{V1}/bookings", guest_body(slots[0]))
    two = api.created(f"{V1}/bookings", guest_body(slots[1], "sam@example.com", "+4915112345673"))
    key = {"Idempotency-Key": "confirm-key"}
    first = app.test_client().post(f"{V1}/bookings/{one['id']}/confirm", json={"hold_token": one["hold_token"]},
                                   headers=key)
    assert first.status_code == 200
    # Another guest using the same key for their own booking is not answered with the first one.
    second = app.test_client().post(f"{V1}/bookings/{two['id']}/confirm", json={"hold_token": two["hold_token"]},
                                    headers=key)
    assert second.status_code == 200 and second.json["id"] == two["id"]


# --- Message-ID ----------------------------------------------------------------------------------

def test_an_emails_message_id_is_derived_from_the_notification_and_stable_across_retries(app):
    notification_id = str(uuid.uuid4())
    with app.test_request_context():
        first = mail.build("rita@example.com", "Hi", "text", None, notification_id)
        retry = mail.build("rita@example.com", "Hi", "text", None, notification_id)
        other = mail.build("rita@example.com", "Hi", "text", None, str(uuid.uuid4()))
    assert first["Message-ID"] == retry["Message-ID"] == f"<{notification_id}@bookwell.local>"
    assert other["Message-ID"] != first["Message-ID"]


# --- notes and reasons at rest -----------------------------------------------------------------

def test_notes_and_cancel_reasons_are_stored_encrypted(app, demo):
    slot = free_slots(app, 1)[0]
    api = Api(app.test_client())
    held = api.created(f"{V1}/bookings", {**guest_body(slot), "notes": "Knee pain since the fall"})
    api.ok(api.post(f"{V1}/bookings/{held['id']}/cancel",
                    {"hold_token": held["hold_token"], "reason": "Feeling dizzy"}))
    with app.app_context():
        raw = db.session.execute(text("SELECT notes, cancel_reason FROM bookings WHERE id = :id"),
                                 {"id": _db_id(held["id"])}).one()
        assert "Knee" not in raw.notes and "dizzy" not in raw.cancel_reason
        assert crypto.decrypt(raw.notes) == "Knee pain since the fall"
        assert crypto.decrypt(raw.cancel_reason) == "Feeling dizzy"
        booking = db.session.get(Booking, uuid.UUID(held["id"]))
        assert booking.notes == "Knee pain since the fall" and booking.cancel_reason == "Feeling dizzy"


def _db_id(value: str):
    """How the Uuid column is stored: hex without dashes on SQLite, native on PostgreSQL."""
    return uuid.UUID(value).hex if db.engine.dialect.name == "sqlite" else uuid.UUID(value)


def test_the_migration_encrypts_existing_reasons_and_downgrade_restores_them(backend, request, test_root,
                                                                            redis_url):
    """Seeded rows are written encrypted at head; a downgrade to 0003 turns them back into
    clear text (what older releases stored), and upgrading again encrypts those rows."""
    if backend == "sqlite":
        url = f"sqlite:///{test_root / ('bw_enc_' + uuid.uuid4().hex[:8] + '.sqlite3')}"
    else:
        name = f"bw_enc_{uuid.uuid4().hex[:8]}"
        request.getfixturevalue("postgres").execute(f"CREATE DATABASE {name}")
        url = request.getfixturevalue("postgres").url(name)
    env = process_env(url, redis_url)
    for step in (["db", "upgrade"], ["demo", "seed"], ["db", "downgrade", "0003"]):
        done = flask_cli(step, env)
        assert done.returncode == 0, (step, done.stderr)
    query = text("SELECT cancel_reason FROM bookings WHERE cancel_reason IS NOT NULL")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            clear = sorted(connection.execute(query).scalars().all())
        assert "Feeling better" in clear  # clear text, as 0003 kept it
        upgraded = flask_cli(["db", "upgrade"], env)
        assert upgraded.returncode == 0, upgraded.stderr
        with engine.connect() as connection:
            stored = connection.execute(query).scalars().all()
    finally:
        engine.dispose()
    crypto.configure(TEST_SECRET)
    assert len(stored) == len(clear) and not set(stored) & set(clear)
    assert sorted(crypto.decrypt(value) for value in stored) == clear
