"""Google Calendar two-way against a local fake of Google (tests/google_fake.py): connecting with
OAuth + PKCE through the API and the callback, incremental sync with a 410 fallback, a revoked
refresh token, and write-back that appears exactly once."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select, text

from app.calendars.sync import sync_connection
from app.calendars.writeback import apply_connection
from app.extensions import db
from app.models import CalendarConnection, ExternalBusyTime
from tests.google_fake import fake_google
from tests.integration.api_helpers import assert_error, at, next_weekday, row_counts
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


# --- push channels (events.watch) ----------------------------------------------------------------

PUSH = "/calendar/google/push"  # the address of the issue; /api/v1/calendar/google/push is the same receiver


def notice(client, channel_id: str | None, token: str | None, state: str = "exists", number: int = 2,
           resource: str = "res-x"):
    """A push notice as Google sends it: headers only, no body; `resource` is the watched resource's id."""
    headers = {"X-Goog-Resource-State": state, "X-Goog-Resource-ID": resource, "X-Goog-Message-Number": str(number)}
    if channel_id is not None:
        headers["X-Goog-Channel-ID"] = channel_id
    if token is not None:
        headers["X-Goog-Channel-Token"] = token
    return client.post(PUSH, headers=headers)


def stored_connection(app, connection_id: str) -> CalendarConnection:
    with app.app_context():
        connection = db.session.get(CalendarConnection, uuid.UUID(connection_id))
        db.session.expunge(connection)
        return connection


def channel_rows(app, connection_id: str) -> list:
    from app.models import GooglePushChannel

    with app.app_context():
        rows = db.session.scalars(select(GooglePushChannel).where(
            GooglePushChannel.connection_id == uuid.UUID(connection_id))).all()
        db.session.expunge_all()
        return rows


def poll_seconds(app, connection_id: str) -> float:
    stored = stored_connection(app, connection_id)
    return (stored.next_sync_at - stored.last_synced_at).total_seconds()


@pytest.fixture
def pushed(app, google, monkeypatch):
    """Push on: the address is where Google would POST (nobody listens there in these tests: the
    tests deliver the notices themselves with the channel's id and token, as Google would)."""
    monkeypatch.setitem(app.config, "GOOGLE_PUSH_URL", f"http://127.0.0.1:9{PUSH}")
    return google


def test_push_channels_are_opened_checked_renewed_and_stopped(app, client, admin, clinic, pushed):
    from app.calendars import push
    from app.database import write_transaction
    from app.models import GooglePushChannel, utcnow

    google = pushed
    created = connect(app, client, admin, clinic, google)
    assert sync(app, created["id"]).startswith("ok")
    # one channel per calendar that blocks time; the token is random and only its hash is stored
    assert {c["calendar"] for c in google.live_channels().values()} == {EMAIL, ROTA}
    rows = channel_rows(app, created["id"])
    assert {str(r.id) for r in rows} == set(google.live_channels())
    for row in rows:
        token = google.channels[str(row.id)]["token"]
        assert len(token) >= 40 and row.token_hash != token and token not in json.dumps(
            [r.token_hash for r in rows]) and row.resource_id == google.channels[str(row.id)]["resourceId"]
        assert uuid.UUID(str(row.id)).version == 4 and row.stopped_at is None
    # the first channel makes the connection due at once (a change between the list and the watch
    # is read); after that sync, the live channels let it poll every 30 minutes instead of 5
    assert stored_connection(app, created["id"]).sync_requested_at is not None
    assert sync(app, created["id"]).startswith("ok")
    assert poll_seconds(app, created["id"]) == 1800
    assert admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))["health"] == "green"

    channel_id, channel = next((k, c) for k, c in google.live_channels().items() if c["calendar"] == EMAIL)
    token = channel["token"]

    # forged notices change nothing: no channel headers -> 400; unknown channel, wrong token -> 401 alike
    before = row_counts(app)
    assert_error(notice(client, None, None), 400, "BAD_REQUEST")
    assert_error(notice(client, channel_id, None), 400, "BAD_REQUEST")
    assert_error(notice(client, None, token), 400, "BAD_REQUEST")
    unknown = notice(client, str(uuid.uuid4()), token)
    wrong = notice(client, channel_id, token[:-1] + ("A" if token[-1] != "A" else "B"))
    garbage = notice(client, "not-a-channel", token)
    for answer in (unknown, wrong, garbage):
        assert_error(answer, 401, "UNAUTHENTICATED")
    assert unknown.get_json() == wrong.get_json() == garbage.get_json()  # answered alike
    headers = {"X-Goog-Channel-ID": channel_id, "X-Goog-Channel-Token": "forged", "X-Goog-Resource-State": "exists"}
    assert client.post("/api/v1" + PUSH, headers=headers).get_json() == wrong.get_json()
    assert row_counts(app) == before
    assert stored_connection(app, created["id"]).sync_requested_at is None  # nothing queued

    # Google's handshake queues nothing; nor does a notice naming another resource than the channel
    # watches, or one of a channel past its expiry; a change queues one sync of the connection
    resource = channel["resourceId"]
    assert notice(client, channel_id, token, state="sync", number=1, resource=resource).get_json() == {
        "queued": False}
    assert notice(client, channel_id, token, resource=resource + "-other").get_json() == {"queued": False}
    with app.app_context():
        with write_transaction():
            expiry = db.session.get(GooglePushChannel, uuid.UUID(channel_id)).expires_at
            db.session.get(GooglePushChannel, uuid.UUID(channel_id)).expires_at = utcnow() - timedelta(seconds=1)
        assert notice(client, channel_id, token, resource=resource).get_json() == {"queued": False}
        with write_transaction():
            db.session.get(GooglePushChannel, uuid.UUID(channel_id)).expires_at = expiry
    assert stored_connection(app, created["id"]).sync_requested_at is None
    answer = notice(client, channel_id, token, state="exists", resource=resource)
    assert answer.status_code == 200 and answer.get_json() == {"queued": True}
    assert stored_connection(app, created["id"]).sync_requested_at is not None
    from rq.job import Job

    from app.redis_client import get_redis

    with app.app_context():
        assert Job.fetch(f"calendar-sync-{created['id']}", connection=get_redis()).func_name.endswith(
            "sync_calendar")
    assert sync(app, created["id"]).startswith("ok")

    # renewal: channels expiring within 24 h get successors first, then the old ones are stopped
    with app.app_context():
        with write_transaction():
            for row in db.session.scalars(select(GooglePushChannel)):
                row.expires_at = utcnow() + timedelta(hours=2)
        assert push.renew_due() == 2
    old = {str(r.id) for r in rows}
    log = google.channel_log
    for old_id in old:
        calendar = google.channels[old_id]["calendar"]
        new_id = next(k for k, c in google.live_channels(calendar).items())
        assert log.index(("watch", new_id)) < log.index(("stop", old_id))  # created before the old one stops
    assert not old & set(google.live_channels())
    live = [r for r in channel_rows(app, created["id"]) if r.stopped_at is None]
    assert len(live) == 2 and all(r.expires_at > datetime.now(timezone.utc) + timedelta(hours=12) for r in live)
    with app.app_context():
        assert push.renew_due() == 0  # nothing is due any more

    # a stopped channel's notices are answered and ignored
    assert notice(client, channel_id, token, resource=resource).get_json() == {"queued": False}
    assert stored_connection(app, created["id"]).sync_requested_at is None

    # a calendar that stops blocking time loses its channel (the sync the choice queues stops it)
    calendars = {c["name"]: c for c in admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))["calendars"]}
    admin.ok(admin.patch(f"{CONNECTIONS}/{created['id']}",
                         {"calendars": [{"id": calendars["Hospital rota"]["id"], "blocks_time": False}]}))
    assert sync(app, created["id"]).startswith("ok")
    assert {c["calendar"] for c in google.live_channels().values()} == {EMAIL}
    assert poll_seconds(app, created["id"]) == 1800  # every blocking calendar is still watched

    # disconnecting stops the remaining channel at Google
    response = admin.client.delete(f"{CONNECTIONS}/{created['id']}", headers=admin.headers(write=True))
    assert response.status_code == 204
    assert google.live_channels() == {} and channel_rows(app, created["id"]) == []


def test_without_push_or_when_google_refuses_the_channel_it_polls_every_5_minutes(
        app, client, admin, clinic, google, monkeypatch):
    created = connect(app, client, admin, clinic, google)
    assert sync(app, created["id"]).startswith("ok")  # GOOGLE_PUSH_URL empty: polling only
    assert google.channels == {} and poll_seconds(app, created["id"]) == 300
    monkeypatch.setitem(app.config, "GOOGLE_PUSH_URL", "ftp://clinic.example/push")  # Google refuses it
    assert sync(app, created["id"]).startswith("ok")
    assert google.channels == {} and poll_seconds(app, created["id"]) == 300
    health = admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))
    assert health["status"] == "ok" and health["health"] == "green"
    assert "push notifications" in health["last_error"] and "webhookUrlNotHttps" in health["last_error"]


def test_a_failed_stop_does_not_hold_up_the_disconnect(app, client, admin, clinic, pushed, caplog):
    created = connect(app, client, admin, clinic, pushed)
    assert sync(app, created["id"]).startswith("ok")
    assert len(pushed.live_channels()) == 2
    pushed.fail_next = [500, 500]  # both channels.stop calls fail
    assert admin.client.delete(f"{CONNECTIONS}/{created['id']}", headers=admin.headers(write=True)).status_code == 204
    assert channel_rows(app, created["id"]) == []
    assert "not stopped" in caplog.text and EMAIL not in caplog.text  # logged without personal data
