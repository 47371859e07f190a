"""External calendars through the API alone: signed webhooks, connections, the private feed."""
from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select

from app.calendars.webhooks import sign
from app.calendars.writeback import external_uid
from app.database import write_transaction
from app.extensions import db
from app.models import CalendarConnection, CalendarEventLink, ExternalBusyTime
from tests.integration.api_helpers import (
    Api, assert_error, at, cheap_hashing, make_organization, make_user, minted_token, row_counts, token,
)
from tests.integration.test_api_admin_setup import (  # noqa: F401 - fixtures
    ADMIN, TZ, add_confirmed_booking, admin, clinic, day_slots, workday,
)

CONNECTIONS = f"{ADMIN}/calendar-connections"


def webhook(admin: Api, clinic) -> tuple[dict, str]:
    created = admin.created(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "webhook"})
    return created, created["webhook_secret"]


def deliver(client, connection_id: str, secret: str | None, body: dict | bytes, *, skew: int = 0,
            signature: str | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Bookwell-Signature"] = signature
    elif secret is not None:
        headers["X-Bookwell-Signature"] = sign(secret, int(time.time()) + skew, raw)
    return client.post(f"/api/v1/calendar/webhooks/{connection_id}", data=raw, headers=headers)


def starts(admin, clinic, day) -> list[str]:
    return [s["local_start"][11:16] for s in day_slots(admin, clinic, day)]


def test_a_webhook_connection_answers_its_secret_once_and_signed_events_block_and_free_time(
        app, client, admin, clinic, workday):
    created, secret = webhook(admin, clinic)
    assert created["kind"] == "webhook" and created["status"] == "ok" and len(secret) >= 32
    assert created["webhook_url"].endswith(f"/api/v1/calendar/webhooks/{created['id']}")
    again = admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))
    assert "webhook_secret" not in again and "webhook_secret" not in json.dumps(admin.ok(admin.get(CONNECTIONS)))
    assert starts(admin, clinic, workday.day) == ["09:00", "10:00", "11:00"]

    event = {"id": "rota-1", "status": "confirmed", "start": at(workday.day, "10:00", TZ).isoformat(),
             "end": at(workday.day, "11:00", TZ).isoformat()}
    answer = deliver(client, created["id"], secret, {"delivery_id": "d-1", "events": [event]})
    assert answer.status_code == 200 and answer.get_json() == {"applied": 1}
    assert starts(admin, clinic, workday.day) == ["09:00", "11:00"]
    health = admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))
    assert health["busy_count"] == 1 and health["last_synced_at"] and health["status"] == "ok"

    # a replayed delivery changes nothing, even with other content
    moved = {**event, "start": at(workday.day, "09:00", TZ).isoformat(), "end": at(workday.day, "10:00", TZ).isoformat()}
    replay = deliver(client, created["id"], secret, {"delivery_id": "d-1", "events": [moved]})
    assert replay.status_code == 200 and replay.get_json()["applied"] == 0
    assert starts(admin, clinic, workday.day) == ["09:00", "11:00"]

    # a move by id, then a cancellation
    assert deliver(client, created["id"], secret, {"delivery_id": "d-2", "events": [moved]}).status_code == 200
    assert starts(admin, clinic, workday.day) == ["10:00", "11:00"]
    cancel = {"id": "rota-1", "status": "cancelled"}
    assert deliver(client, created["id"], secret, {"delivery_id": "d-3", "events": [cancel]}).status_code == 200
    assert starts(admin, clinic, workday.day) == ["09:00", "10:00", "11:00"]

    # an all-day event blocks the provider's local day; a transparent one does not
    all_day = {"id": "leave", "status": "tentative", "date": workday.day.isoformat()}
    free = {"id": "free", "status": "confirmed", "transparency": "transparent",
            "start": at(workday.day, "09:00", TZ).isoformat(), "end": at(workday.day, "12:00", TZ).isoformat()}
    assert deliver(client, created["id"], secret, {"delivery_id": "d-4", "events": [free]}).status_code == 200
    assert starts(admin, clinic, workday.day) == ["09:00", "10:00", "11:00"]
    assert deliver(client, created["id"], secret, {"delivery_id": "d-5", "events": [all_day]}).status_code == 200
    assert starts(admin, clinic, workday.day) == []

    # its busy times cannot be read again, so they cannot be switched off (and lost) either
    [calendar] = health["calendars"]
    refused = admin.patch(f"{CONNECTIONS}/{created['id']}",
                          {"calendars": [{"id": calendar["id"], "blocks_time": False}]})
    assert_error(refused, 422, "VALIDATION_ERROR", "calendars.0.blocks_time")
    assert admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))["busy_count"] == 1
    assert starts(admin, clinic, workday.day) == []


@pytest.mark.parametrize("case", ["missing", "bad", "other-secret", "old", "future", "garbage"])
def test_unsigned_badly_signed_or_skewed_deliveries_are_401_and_change_nothing(app, client, admin, clinic, workday,
                                                                               case):
    created, secret = webhook(admin, clinic)
    body = {"delivery_id": "x", "events": [{"id": "e", "status": "confirmed",
                                            "start": at(workday.day, "10:00", TZ).isoformat(),
                                            "end": at(workday.day, "11:00", TZ).isoformat()}]}
    raw = json.dumps(body).encode()
    now = int(time.time())
    signature = {
        "missing": None, "bad": f"t={now},v1={'0' * 64}", "other-secret": sign("not-the-secret", now, raw),
        # "future" leaves a minute of slack: the server reads its clock later than `now`, and a loaded
        # machine can take over a second to get there (the exact 300 s edge is a unit test).
        "old": sign(secret, now - 301, raw), "future": sign(secret, now + 360, raw), "garbage": "v1=abc",
    }[case]
    before = row_counts(app)
    response = deliver(client, created["id"], None, raw, signature=signature)
    assert_error(response, 401, "UNAUTHENTICATED")
    assert row_counts(app) == before
    assert starts(admin, clinic, workday.day) == ["09:00", "10:00", "11:00"]
    # a signature within the tolerance works
    assert deliver(client, created["id"], None, raw, signature=sign(secret, now - 290, raw)).status_code == 200


def test_a_signature_for_another_body_or_connection_is_401(app, client, admin, clinic):
    first, secret = webhook(admin, clinic)
    second, _ = webhook(admin, clinic)
    raw = json.dumps({"delivery_id": "a", "events": []}).encode()
    good = sign(secret, int(time.time()), raw)
    assert_error(deliver(client, second["id"], None, raw, signature=good), 401, "UNAUTHENTICATED")
    assert_error(deliver(client, str(uuid.uuid4()), None, raw, signature=good), 401, "UNAUTHENTICATED")
    tampered = raw.replace(b'"a"', b'"b"')
    assert_error(deliver(client, first["id"], None, tampered, signature=good), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize("raw", [b"not json", b'{"delivery_id": ', b'{"delivery_id": "x"}', b"",
                                 b"[" * 70 + b"]" * 70])  # (deeper than any body may nest)
def test_the_signature_is_checked_before_the_body_so_unsigned_garbage_is_401(app, client, admin, clinic, raw):
    created, secret = webhook(admin, clinic)
    before = row_counts(app)
    assert_error(deliver(client, created["id"], None, raw), 401, "UNAUTHENTICATED")  # not 400 / 422
    assert_error(deliver(client, created["id"], None, raw, signature="t=1,v1=00"), 401, "UNAUTHENTICATED")
    assert_error(deliver(client, str(uuid.uuid4()), secret, raw), 401, "UNAUTHENTICATED")  # no such webhook
    assert row_counts(app) == before


def test_a_signed_body_that_is_not_json_is_400_like_everywhere(app, client, admin, clinic):
    created, secret = webhook(admin, clinic)
    before = row_counts(app)
    assert_error(deliver(client, created["id"], secret, b"not json"), 400, "BAD_REQUEST")
    deep = assert_error(deliver(client, created["id"], secret, b"[" * 70 + b"]" * 70), 400, "BAD_REQUEST")
    assert "deeper" in deep["message"]
    assert row_counts(app) == before


@pytest.mark.parametrize(("event", "field"), [
    # Unix seconds are not RFC 3339
    ({"id": "lax", "status": "confirmed", "start": 1798020000, "end": 1798023600}, "start"),
    # an all-day event's date is YYYY-MM-DD, not a date-time
    ({"id": "lax", "status": "confirmed", "date": "2026-12-24T00:00:00Z"}, "date"),
])
def test_webhook_times_are_rfc_3339_and_dates_plain_dates(app, client, admin, clinic, event, field):
    created, secret = webhook(admin, clinic)
    before = row_counts(app)
    error = assert_error(deliver(client, created["id"], secret, {"delivery_id": "lax-1", "events": [event]}),
                         422, "VALIDATION_ERROR")
    assert any(name.endswith(field) for name in error["details"]["fields"]), error
    assert row_counts(app) == before


@pytest.mark.parametrize("body", [
    {"events": []}, {"delivery_id": "", "events": []}, {"delivery_id": "x"},
    {"delivery_id": "x", "events": [{"id": "e", "status": "busy", "date": "2027-03-01"}]},
    {"delivery_id": "x", "events": [{"id": "e", "status": "confirmed", "start": "2027-03-01T10:00:00"}]},
    {"delivery_id": "x", "events": [{"id": "e", "status": "confirmed", "start": "2027-03-01T10:00:00Z",
                                     "end": "2027-03-01T09:00:00Z"}]},
    {"delivery_id": "x", "events": [{"id": "e", "status": "confirmed"}]},
    {"delivery_id": "x", "events": [{"id": "e", "status": "confirmed", "date": "2027-03-02",
                                     "end_date": "2027-03-01"}]},
])
def test_bad_shapes_are_422_and_the_delivery_id_stays_unused(app, client, admin, clinic, body):
    created, secret = webhook(admin, clinic)
    before = row_counts(app)
    assert_error(deliver(client, created["id"], secret, body), 422, "VALIDATION_ERROR")
    assert row_counts(app) == before
    ok = deliver(client, created["id"], secret, {"delivery_id": "x", "events": []})
    assert ok.status_code == 200 and ok.get_json() == {"applied": 0}


def test_an_event_bookwell_wrote_back_is_flagged_for_staff_and_never_blocks(app, client, admin, clinic, workday):
    created, secret = webhook(admin, clinic)
    booking_id = add_confirmed_booking(app, admin, clinic, at(workday.day, "09:00", TZ))
    with app.app_context():
        with write_transaction():
            db.session.add(CalendarEventLink(organization_id=admin.organization_id,
                                             booking_id=uuid.UUID(booking_id), connection_id=uuid.UUID(created["id"]),
                                             external_uid=external_uid(uuid.UUID(booking_id)), desired_state="present",
                                             desired_version=1, applied_version=1, applied_state="present"))
    moved = {"id": external_uid(uuid.UUID(booking_id)), "status": "confirmed",
             "start": at(workday.day, "10:00", TZ).isoformat(), "end": at(workday.day, "11:00", TZ).isoformat()}
    assert deliver(client, created["id"], secret, {"delivery_id": "m", "events": [moved]}).status_code == 200
    assert starts(admin, clinic, workday.day) == ["10:00", "11:00"]  # the booking still holds 09:00 only
    with app.app_context():
        link = db.session.scalars(select(CalendarEventLink)).one()
        assert link.flagged_at is not None and link.flag_reason == "changed in the external calendar"
        assert db.session.scalars(select(ExternalBusyTime)).all() == []


def test_ics_and_caldav_connections_validate_their_fields(app, client, admin, clinic):
    bad = admin.post(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "ics", "url": "file:///etc/passwd"})
    assert_error(bad, 422, "VALIDATION_ERROR", "url")
    bad = admin.post(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "caldav", "url": "https://dav.example"})
    error = assert_error(bad, 422, "VALIDATION_ERROR")
    assert {"username", "password"} <= set(error["details"]["fields"])
    assert_error(admin.post(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "outlook"}), 422,
                 "VALIDATION_ERROR", "kind")
    assert_error(admin.post(CONNECTIONS, {"provider_id": str(uuid.uuid4()), "kind": "webhook"}), 404, "NOT_FOUND")
    assert_error(admin.client.post(CONNECTIONS, json={"provider_id": clinic.provider_id, "kind": "webhook"},
                                   headers={"Authorization": f"Bearer {admin.bearer}"}), 400,
                 "IDEMPOTENCY_KEY_REQUIRED")


def test_an_ics_connection_is_created_pending_syncs_on_demand_and_disconnect_frees_its_busy_times(
        app, client, admin, clinic, workday):
    created = admin.created(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "ics",
                                          "url": "webcal://calendar.example.org/rota.ics", "display_name": "Rota"})
    assert created["status"] == "pending" and "url" not in created and "password" not in json.dumps(created)
    assert [c["name"] for c in created["calendars"]] == ["Feed"] and created["calendars"][0]["blocks_time"]
    assert admin.post(f"{CONNECTIONS}/{created['id']}/sync").status_code == 202
    listed = admin.ok(admin.get(CONNECTIONS, {"provider_id": clinic.provider_id}))["connections"]
    assert [c["id"] for c in listed] == [created["id"]]
    with app.app_context():
        with write_transaction():
            connection = db.session.get(CalendarConnection, uuid.UUID(created["id"]))
            db.session.add(ExternalBusyTime(organization_id=connection.organization_id,
                                            provider_id=connection.provider_id, connection_id=connection.id,
                                            source_id=connection.sources[0].id, external_uid="x",
                                            start_at=at(workday.day, "09:00", TZ),
                                            end_at=at(workday.day, "10:00", TZ), updated_at=connection.created_at))
    assert starts(admin, clinic, workday.day) == ["10:00", "11:00"]
    calendar_id = created["calendars"][0]["id"]
    patched = admin.ok(admin.patch(f"{CONNECTIONS}/{created['id']}",
                                   {"calendars": [{"id": calendar_id, "blocks_time": False}]}))
    assert patched["calendars"][0]["blocks_time"] is False and patched["busy_count"] == 0
    assert starts(admin, clinic, workday.day) == ["09:00", "10:00", "11:00"]
    assert_error(admin.patch(f"{CONNECTIONS}/{created['id']}", {"calendars": [{"id": str(uuid.uuid4())}]}),
                 422, "VALIDATION_ERROR", "calendars.0.id")
    assert_error(admin.patch(f"{CONNECTIONS}/{created['id']}",
                             {"calendars": [{"id": calendar_id, "is_destination": True}]}), 422, "VALIDATION_ERROR")
    response = admin.client.delete(f"{CONNECTIONS}/{created['id']}", headers=admin.headers(write=True))
    assert response.status_code == 204
    assert_error(admin.get(f"{CONNECTIONS}/{created['id']}"), 404, "NOT_FOUND")
    with app.app_context():
        assert db.session.scalars(select(CalendarConnection)).all() == []


def test_roles_and_tenants(app, client, admin, clinic, monkeypatch):
    created, _ = webhook(admin, clinic)
    frontdesk = Api(client, minted_token(app, make_user(app, admin.organization_id, "frontdesk")))
    assert_error(frontdesk.get(CONNECTIONS), 403, "FORBIDDEN")
    assert_error(frontdesk.get(f"{ADMIN}/providers/{clinic.provider_id}/feed"), 403, "FORBIDDEN")
    manager = Api(client, minted_token(app, make_user(app, admin.organization_id, "manager")))
    assert manager.ok(manager.get(f"{CONNECTIONS}/{created['id']}"))["id"] == created["id"]
    other_org = make_organization(app, "Other Clinic")
    stranger = Api(client, minted_token(app, make_user(app, other_org, "admin")))
    assert stranger.ok(stranger.get(CONNECTIONS))["connections"] == []
    assert_error(stranger.get(f"{CONNECTIONS}/{created['id']}"), 404, "NOT_FOUND")
    assert_error(stranger.post(f"{CONNECTIONS}/{created['id']}/sync"), 404, "NOT_FOUND")
    assert_error(stranger.client.delete(f"{CONNECTIONS}/{created['id']}", headers=stranger.headers(write=True)),
                 404, "NOT_FOUND")
    assert_error(stranger.get(f"{ADMIN}/providers/{clinic.provider_id}/feed"), 404, "NOT_FOUND")
    assert_error(client.get(CONNECTIONS), 401, "UNAUTHENTICATED")


def test_the_private_feed_lists_live_bookings_with_minimal_data_and_rotation_kills_the_old_url(
        app, client, admin, clinic, workday):
    booking_id = add_confirmed_booking(app, admin, clinic, at(workday.day, "10:00", TZ))
    url = admin.ok(admin.get(f"{ADMIN}/providers/{clinic.provider_id}/feed"))["url"]
    assert admin.ok(admin.get(f"{ADMIN}/providers/{clinic.provider_id}/feed"))["url"] == url  # stable
    path = url.split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    events = list(calendar.walk("VEVENT"))
    assert [str(e["UID"]) for e in events] == [f"bookwell-{booking_id}@bookwell"]
    event = events[0]
    assert event.decoded("DTSTART") == at(workday.day, "10:00", TZ)
    assert event.decoded("DTEND") == at(workday.day, "11:00", TZ)
    assert str(event["SUMMARY"]) == "Check-up (confirmed)" and "Walk In" not in response.get_data(as_text=True)
    assert "ATTENDEE" not in event and "ORGANIZER" not in event
    token_part = path.rsplit("/", 1)[1].removesuffix(".ics")
    with app.app_context():
        from app.models import Provider

        stored = db.session.get(Provider, uuid.UUID(clinic.provider_id))
        assert stored.feed_token_hash != token_part and token_part not in (stored.feed_nonce or "")
    rotated = admin.post(f"{ADMIN}/providers/{clinic.provider_id}/feed/rotate")
    assert rotated.status_code == 200 and rotated.get_json()["url"] != url
    assert client.get("/" + path).status_code == 404
    new_path = rotated.get_json()["url"].split("://", 1)[1].split("/", 1)[1]
    assert client.get("/" + new_path).status_code == 200
    assert client.get("/calendar/feed/not-a-token.ics").status_code == 404


def test_a_flagged_booking_is_on_the_front_desk_queue(app, client, admin, clinic, workday, monkeypatch):
    from tests.integration.helpers import page_text, sign_in_as
    from app.accounts import find_user_by_email

    created, secret = webhook(admin, clinic)
    booking_id = add_confirmed_booking(app, admin, clinic, at(workday.day, "09:00", TZ))
    with app.app_context():
        with write_transaction():
            db.session.add(CalendarEventLink(organization_id=admin.organization_id,
                                             booking_id=uuid.UUID(booking_id), connection_id=uuid.UUID(created["id"]),
                                             external_uid=external_uid(uuid.UUID(booking_id)), desired_state="present",
                                             desired_version=1, applied_version=1, applied_state="present"))
    desk_email = make_user(app, admin.organization_id, "frontdesk")
    browser = app.test_client()
    with app.app_context():
        sign_in_as(browser, find_user_by_email(desk_email))
    assert "calendar-flags" not in browser.get("/frontdesk/").get_data(as_text=True)
    gone = {"id": external_uid(uuid.UUID(booking_id)), "status": "cancelled"}
    assert deliver(client, created["id"], secret, {"delivery_id": "g", "events": [gone]}).status_code == 200
    text = page_text(browser.get("/frontdesk/"))
    assert "Changed in an external calendar" in text and "Walk In" in text
    assert "deleted in the external calendar" in text
    assert starts(admin, clinic, workday.day) == ["10:00", "11:00"]  # the booking still holds its time


def test_feed_and_webhook_addresses_come_from_the_clinics_own_site_not_the_callers_host(
        app, admin, clinic, monkeypatch):
    """A secret address handed out under a Host header the caller chose (a mis-set proxy or cache)
    would give the secret to that host: with PUBLIC_URL set, every such link is built on it."""
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://book.harbour.example")
    evil = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    feed = admin.ok(admin.get(f"{ADMIN}/providers/{clinic.provider_id}/feed", headers=evil))["url"]
    assert feed.startswith("https://book.harbour.example/calendar/feed/") and feed.endswith(".ics")
    rotated = admin.post(f"{ADMIN}/providers/{clinic.provider_id}/feed/rotate", headers=evil).get_json()["url"]
    assert rotated.startswith("https://book.harbour.example/calendar/feed/") and rotated != feed
    response = admin.post(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "webhook"}, headers=evil)
    assert response.status_code == 201
    created = response.get_json()
    assert created["webhook_url"] == f"https://book.harbour.example/api/v1/calendar/webhooks/{created['id']}"
