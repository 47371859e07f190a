"""Google Calendar two-way against a local fake of Google (tests/google_fake.py): connecting with
OAuth + PKCE through the API and the callback, incremental sync with a 410 fallback, a revoked
refresh token, and write-back that appears exactly once."""
from __future__ import annotations

import json
import uuid
from datetime import timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select, text

from app.calendars.sync import sync_connection
from app.calendars.writeback import apply_connection
from app.extensions import db
from app.models import CalendarConnection, ExternalBusyTime
from tests.google_fake import fake_google
from tests.integration.api_helpers import at, next_weekday
from tests.integration.test_api_admin_setup import (  # noqa: F401 - fixtures
    ADMIN, TZ, admin, clinic, day_slots, weekly_rule,
)

CONNECTIONS = f"{ADMIN}/calendar-connections"
EMAIL = "doctor@example.org"
ROTA = "rota@group.calendar.google.com"


@pytest.fixture
def google(app, monkeypatch):
    with fake_google(EMAIL) as fake:
        for key, value in {"CALENDAR_ALLOW_PRIVATE_URLS": True, "GOOGLE_CLIENT_ID": fake.client_id,
                           "GOOGLE_CLIENT_SECRET": fake.client_secret,
                           "GOOGLE_AUTH_URL": f"{fake.url}/o/oauth2/v2/auth",
                           "GOOGLE_TOKEN_URL": f"{fake.url}/token", "GOOGLE_API_URL": fake.url}.items():
            monkeypatch.setitem(app.config, key, value)
        yield fake


def sync(app, connection_id: str, full: bool = False) -> str:
    with app.app_context():
        return sync_connection(uuid.UUID(connection_id), full=full)


def starts(admin, clinic, day) -> list[str]:
    return [s["local_start"][11:16] for s in day_slots(admin, clinic, day)]


def timed(event_id: str, start, end, **extra) -> dict:
    return {"id": event_id, "start": {"dateTime": start.isoformat()}, "end": {"dateTime": end.isoformat()}, **extra}


def connect(app, client, admin, clinic, google) -> dict:
    """The API answers the consent URL; the fake approves at once and sends the browser back."""
    created = admin.created(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "google"})
    assert created["kind"] == "google" and created["status"] == "pending"
    consent = urlsplit(created["authorize_url"])
    query = parse_qs(consent.query)
    assert created["authorize_url"].startswith(google.url + "/o/oauth2/v2/auth")
    assert query["code_challenge_method"] == ["S256"] and query["access_type"] == ["offline"]
    assert set(query["scope"][0].split()) == {"https://www.googleapis.com/auth/calendar.readonly",
                                              "https://www.googleapis.com/auth/calendar.events"}
    back = requests.get(created["authorize_url"], allow_redirects=False, timeout=10)
    assert back.status_code == 302
    location = urlsplit(back.headers["Location"])
    assert location.path == "/calendar/google/callback"
    # a forged state changes nothing
    forged = client.get(f"{location.path}?{location.query.replace('state=', 'state=x')}")
    assert forged.status_code == 400
    done = client.get(f"{location.path}?{location.query}")
    assert done.status_code == 200 and b"connected" in done.data
    assert client.get(f"{location.path}?{location.query}").status_code in (400, 502)  # a code works once
    with app.app_context():
        stored = db.session.get(CalendarConnection, uuid.UUID(created["id"]))
        credentials = json.loads(stored.credentials)
        assert credentials["refresh_token"] in google.refresh_tokens and "oauth_state" not in credentials
        assert db.session.execute(text("SELECT count(*) FROM calendar_connections WHERE credentials LIKE :p"),
                                  {"p": f"%{credentials['refresh_token']}%"}).scalar_one() == 0  # encrypted
    return created


def test_connect_import_incremental_and_one_full_resync_after_410(app, client, admin, clinic, google):
    weekly_rule(admin, clinic, [1, 2, 3, 4, 5], "09:00", "17:00")
    day = next_weekday(TZ)
    google.add_event(EMAIL, timed("surgery", at(day, "10:00", TZ), at(day, "11:00", TZ)))
    google.add_event(ROTA, timed("rota", at(day, "14:00", TZ), at(day, "15:00", TZ)))
    google.add_event(ROTA, timed("free", at(day, "15:00", TZ), at(day, "16:00", TZ), transparency="transparent"))
    google.add_event(ROTA, timed("ooo", at(day, "16:00", TZ), at(day, "17:00", TZ), eventType="outOfOffice"))
    google.add_event(EMAIL, timed("declined", at(day, "09:00", TZ), at(day, "10:00", TZ),
                                  attendees=[{"email": EMAIL, "self": True, "responseStatus": "declined"}]))
    created = connect(app, client, admin, clinic, google)

    assert sync(app, created["id"]).startswith("ok")
    connection = admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))
    assert {c["name"] for c in connection["calendars"]} == {EMAIL, "Hospital rota"}
    assert connection["status"] == "ok" and connection["health"] == "green" and connection["busy_count"] == 3
    assert starts(admin, clinic, day) == ["09:00", "11:00", "12:00", "13:00", "15:00"]
    with app.app_context():
        assert json.loads(db.session.get(CalendarConnection, uuid.UUID(created["id"])).credentials)[
            "account_email"] == EMAIL

    # incremental: an event created in Google blocks its slot after a sync; a cancellation frees one
    full_before = google.full_lists
    google.add_event(EMAIL, timed("new", at(day, "12:00", TZ), at(day, "13:00", TZ)))
    google.cancel_event(ROTA, "rota")
    assert sync(app, created["id"]).startswith("ok")
    assert google.full_lists == full_before  # only sync tokens were used
    assert starts(admin, clinic, day) == ["09:00", "11:00", "13:00", "14:00", "15:00"]

    # Google forgets the tokens (410): exactly one full resync per calendar, busy times equal Google's
    google.invalidate_sync_tokens()
    google.add_event(ROTA, timed("late", at(day, "13:00", TZ), at(day, "14:00", TZ)))
    google.calendars[EMAIL]["events"].pop("new")  # gone without a trace: only a full read notices
    assert sync(app, created["id"]).startswith("ok")
    assert google.full_lists == full_before + 2  # one per calendar
    with app.app_context():
        rows = db.session.scalars(select(ExternalBusyTime).where(
            ExternalBusyTime.connection_id == uuid.UUID(created["id"]))).all()
        assert sorted(r.external_uid for r in rows) == ["late", "ooo", "surgery"]
    assert starts(admin, clinic, day) == ["09:00", "11:00", "12:00", "14:00", "15:00"]


def test_a_revoked_refresh_token_asks_the_provider_to_reconnect_and_stops_token_calls(
        app, client, admin, clinic, google, monkeypatch):
    from tests.integration.api_helpers import make_user
    from tests.smtp_sink import SmtpSink

    provider_email = make_user(app, admin.organization_id, "provider", provider_id=uuid.UUID(clinic.provider_id))
    created = connect(app, client, admin, clinic, google)
    assert sync(app, created["id"]).startswith("ok")
    google.revoke()  # the access token is gone too: the next call refreshes and Google refuses
    with SmtpSink() as sink:
        for key, value in {"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port,
                           "SMTP_STARTTLS": False, "SMTP_USERNAME": ""}.items():
            monkeypatch.setitem(app.config, key, value)
        assert sync(app, created["id"]) == "reauth required"
        [message] = sink.wait_for(1)
        assert message.to == provider_email and "Reconnect" in message.subject
    health = admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))
    assert health["status"] == "reauth_required" and health["health"] == "red"
    assert "invalid_grant" in health["last_error"]
    calls = list(google.token_calls)
    assert sync(app, created["id"]).startswith("waiting")
    with app.app_context():
        assert apply_connection(uuid.UUID(created["id"])) == "no destination"
    assert google.token_calls == calls  # no further token requests


def test_rate_limits_back_off_and_keep_busy_times(app, client, admin, clinic, google):
    day = next_weekday(TZ)
    google.add_event(EMAIL, timed("surgery", at(day, "10:00", TZ), at(day, "11:00", TZ)))
    created = connect(app, client, admin, clinic, google)
    assert sync(app, created["id"]).startswith("ok")
    google.fail_next = [429]
    assert sync(app, created["id"]).startswith("failed")
    health = admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))
    assert health["status"] == "error" and "rate limit" in health["last_error"] and health["busy_count"] == 1
    assert health["health"] == "amber"
    with app.app_context():  # 1 minute plus up to 20 % jitter
        stored = db.session.get(CalendarConnection, uuid.UUID(created["id"]))
        wait = (stored.next_sync_at - stored.last_attempt_at).total_seconds()
        assert 60 <= wait <= 72 + 5


def test_write_back_appears_exactly_once_and_follows_the_booking(app, client, admin, clinic, google):
    weekly_rule(admin, clinic, [1, 2, 3, 4, 5], "09:00", "17:00")
    day = next_weekday(TZ)
    created = connect(app, client, admin, clinic, google)
    assert sync(app, created["id"]).startswith("ok")
    calendars = {c["name"]: c for c in admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))["calendars"]}
    admin.ok(admin.patch(f"{CONNECTIONS}/{created['id']}",
                         {"calendars": [{"id": calendars[EMAIL]["id"], "is_destination": True}]}))

    held = admin.created("/api/v1/bookings", {"provider_id": clinic.provider_id, "appointment_type_id": clinic.type_id,
                                              "start": at(day, "11:00", TZ).isoformat(), "name": "Pat Example",
                                              "email": "pat@example.org"})
    admin.ok(admin.post(f"/api/v1/bookings/{held['id']}/confirm", {"hold_token": held["hold_token"]}))
    with app.app_context():
        assert apply_connection(uuid.UUID(created["id"])).startswith("1 applied")
    event_id = uuid.UUID(held["id"]).hex
    [written] = google.live_events(EMAIL).values()
    assert written["id"] == event_id and written["status"] == "confirmed"
    assert written["extendedProperties"]["private"]["bookwell_booking"] == f"bookwell-{held['id']}@bookwell"
    assert "attendees" not in written and "Pat" not in json.dumps(written)
    assert ("POST", f"/calendar/v3/calendars/{EMAIL}/events") in google.log

    # its own event is never imported back as busy
    assert sync(app, created["id"]).startswith("ok")
    assert admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))["busy_count"] == 0

    # a lost answer: the insert is repeated, Google answers 409, the event is patched (still one)
    with app.app_context():
        from app.database import write_transaction
        from app.models import CalendarEventLink

        with write_transaction():
            link = db.session.scalars(select(CalendarEventLink)).one()
            link.resource_href, link.applied_version = None, 0
        assert apply_connection(uuid.UUID(created["id"])).startswith("1 applied")
    assert list(google.live_events(EMAIL)) == [event_id]

    admin.ok(admin.post(f"/api/v1/bookings/{held['id']}/reschedule", {"start": at(day, "13:00", TZ).isoformat()}))
    with app.app_context():
        assert apply_connection(uuid.UUID(created["id"])).startswith("1 applied")
    [moved] = google.live_events(EMAIL).values()
    assert moved["id"] == event_id and moved["start"]["dateTime"].startswith(
        at(day, "13:00", TZ).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M"))

    admin.ok(admin.post(f"/api/v1/bookings/{held['id']}/cancel", {"reason": "test"}))
    with app.app_context():
        assert apply_connection(uuid.UUID(created["id"])).startswith("1 applied")
    assert google.live_events(EMAIL) == {}
    assert [k for k in google.calendars[EMAIL]["events"]] == [event_id]  # one event ever


def test_google_is_refused_when_not_configured(app, admin, clinic, monkeypatch):
    monkeypatch.setitem(app.config, "GOOGLE_CLIENT_ID", "")
    response = admin.post(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "google"})
    assert response.status_code == 422
