"""CalDAV two-way against a real Radicale server on 127.0.0.1: discovery, choosing calendars,
incremental sync with a full-resync fallback, and write-back that follows the booking."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import requests
from icalendar import Calendar
from sqlalchemy import select

from app.calendars.sync import sync_connection
from app.calendars.writeback import apply_connection
from app.extensions import db
from app.models import CalendarEventLink, CalendarSource, ExternalBusyTime
from tests.calendar_servers import list_events, make_collection, put_event, radicale_server
from tests.integration.api_helpers import at, next_weekday
from tests.integration.test_api_admin_setup import (  # noqa: F401 - fixtures
    ADMIN, TZ, admin, clinic, day_slots, weekly_rule,
)

CONNECTIONS = f"{ADMIN}/calendar-connections"


def event(uid: str, start, end, extra: str = "") -> str:
    fmt = "%Y%m%dT%H%M%S"
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            f"DTSTAMP:20260101T000000Z\r\nDTSTART;TZID={TZ}:{start.strftime(fmt)}\r\n"
            f"DTEND;TZID={TZ}:{end.strftime(fmt)}\r\nSUMMARY:Private\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture
def radicale():
    with radicale_server() as server:
        yield server


def sync(app, connection_id: str, full: bool = False) -> str:
    with app.app_context():
        return sync_connection(uuid.UUID(connection_id), full=full)


def starts(admin, clinic, day) -> list[str]:
    return [s["local_start"][11:16] for s in day_slots(admin, clinic, day)]


def test_caldav_two_way(app, client, admin, clinic, radicale, monkeypatch):
    monkeypatch.setitem(app.config, "CALENDAR_ALLOW_PRIVATE_URLS", True)
    weekly_rule(admin, clinic, [1, 2, 3, 4, 5], "09:00", "17:00")
    day = next_weekday(TZ)
    work = make_collection(radicale, "work", "Work")
    personal = make_collection(radicale, "personal", "Personal")
    put_event(radicale, work, "surgery-1", event("surgery-1", at(day, "10:00", TZ), at(day, "11:00", TZ)))

    created = admin.created(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "caldav",
                                          "url": radicale.url + "/", "username": radicale.username,
                                          "password": radicale.password})
    assert created["status"] == "pending" and created["calendars"] == []
    assert sync(app, created["id"]).startswith("ok")
    connection = admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))
    names = {c["name"]: c for c in connection["calendars"]}
    assert set(names) == {"Work", "Personal"} and all(c["blocks_time"] for c in names.values())
    assert connection["status"] == "ok" and connection["busy_count"] == 1
    assert "10:00" not in starts(admin, clinic, day)

    # incremental: a new event and a deletion arrive through the sync token
    with app.app_context():
        source = db.session.scalars(select(CalendarSource).where(CalendarSource.name == "Work")).one()
        token_before = source.sync_token
    assert token_before
    put_event(radicale, personal, "gym", event("gym", at(day, "14:00", TZ), at(day, "15:00", TZ)))
    assert sync(app, created["id"]).startswith("ok")
    assert not {"10:00", "14:00"} & set(starts(admin, clinic, day))
    assert requests.delete(f"{work}surgery-1.ics", auth=(radicale.username, radicale.password)).status_code in (200, 204)
    assert sync(app, created["id"]).startswith("ok")
    assert "10:00" in starts(admin, clinic, day) and "14:00" not in starts(admin, clinic, day)
    with app.app_context():
        source = db.session.scalars(select(CalendarSource).where(CalendarSource.name == "Work")).one()
        assert source.sync_token and source.sync_token != token_before

    # the server forgets the token: a full resync repairs everything
    with app.app_context():
        from app.database import write_transaction

        with write_transaction():
            for s in db.session.scalars(select(CalendarSource)):
                s.sync_token = "http://radicale.org/ns/sync/forgotten"
    put_event(radicale, work, "late", event("late", at(day, "16:00", TZ), at(day, "17:00", TZ)))
    assert sync(app, created["id"]).startswith("ok")
    assert not {"14:00", "16:00"} & set(starts(admin, clinic, day))

    # unticking Personal frees its time at once
    admin.ok(admin.patch(f"{CONNECTIONS}/{created['id']}",
                         {"calendars": [{"id": names["Personal"]["id"], "blocks_time": False},
                                        {"id": names["Work"]["id"], "is_destination": True}]}))
    assert "14:00" in starts(admin, clinic, day)

    # write-back: a booking appears once, moves with a reschedule, and goes with a cancel
    held = admin.created("/api/v1/bookings", {"provider_id": clinic.provider_id, "appointment_type_id": clinic.type_id,
                                              "start": at(day, "11:00", TZ).isoformat(), "name": "Pat Example",
                                              "email": "pat@example.org"})
    admin.ok(admin.post(f"/api/v1/bookings/{held['id']}/confirm", {"hold_token": held["hold_token"]}))
    with app.app_context():
        assert apply_connection(uuid.UUID(created["id"])).startswith("1 applied")
    written = written_events(radicale, work)
    assert list(written) == [f"bookwell-{held['id']}@bookwell"]
    vevent = written[f"bookwell-{held['id']}@bookwell"]
    assert vevent.decoded("DTSTART") == at(day, "11:00", TZ) and int(vevent["SEQUENCE"]) == 0
    assert "ATTENDEE" not in vevent and "ORGANIZER" not in vevent and "Pat" not in vevent.to_ical().decode()
    # Bookwell's own event is never imported back as busy
    assert sync(app, created["id"]).startswith("ok")
    with app.app_context():
        assert not db.session.scalars(select(ExternalBusyTime).where(
            ExternalBusyTime.external_uid.like("bookwell-%"))).all()

    admin.ok(admin.post(f"/api/v1/bookings/{held['id']}/reschedule", {"start": at(day, "13:00", TZ).isoformat()}))
    with app.app_context():
        assert apply_connection(uuid.UUID(created["id"])).startswith("1 applied")
    written = written_events(radicale, work)
    vevent = written[f"bookwell-{held['id']}@bookwell"]
    assert len(written) == 1 and vevent.decoded("DTSTART") == at(day, "13:00", TZ) and int(vevent["SEQUENCE"]) == 1

    admin.ok(admin.post(f"/api/v1/bookings/{held['id']}/cancel", {"reason": "test"}))
    with app.app_context():
        assert apply_connection(uuid.UUID(created["id"])).startswith("1 applied")
        link = db.session.scalars(select(CalendarEventLink)).one()
        assert link.applied_state == "absent" and link.applied_version == link.desired_version
    assert written_events(radicale, work) == {}

    # disconnect: the busy times go, the credentials with the row
    response = admin.client.delete(f"{CONNECTIONS}/{created['id']}", headers=admin.headers(write=True))
    assert response.status_code == 204
    assert "16:00" in starts(admin, clinic, day)


def written_events(radicale, collection) -> dict:
    found = {}
    for raw in list_events(radicale, collection).values():
        for component in Calendar.from_ical(raw).walk("VEVENT"):
            if str(component["UID"]).startswith("bookwell-"):
                found[str(component["UID"])] = component
    return found


def test_wrong_credentials_ask_the_provider_to_reconnect(app, client, admin, clinic, radicale, monkeypatch):
    monkeypatch.setitem(app.config, "CALENDAR_ALLOW_PRIVATE_URLS", True)
    created = admin.created(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "caldav",
                                          "url": radicale.url + "/", "username": radicale.username,
                                          "password": "wrong"})
    assert sync(app, created["id"]) == "reauth required"
    health = admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))
    assert health["status"] == "reauth_required" and health["health"] == "red" and health["next_sync_at"] is None
    assert "refused" in health["last_error"]
    assert sync(app, created["id"]).startswith("waiting")  # no retries until reconnected


def test_the_provider_is_told_by_email_when_credentials_stop_working(app, client, admin, clinic, radicale,
                                                                     monkeypatch):
    from tests.integration.api_helpers import make_user
    from tests.smtp_sink import SmtpSink

    monkeypatch.setitem(app.config, "CALENDAR_ALLOW_PRIVATE_URLS", True)
    provider_email = make_user(app, admin.organization_id, "provider", provider_id=uuid.UUID(clinic.provider_id))
    created = admin.created(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "caldav",
                                          "url": radicale.url + "/", "username": radicale.username,
                                          "password": radicale.password})
    assert sync(app, created["id"]).startswith("ok")
    with SmtpSink() as sink:
        for key, value in {"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port,
                           "SMTP_STARTTLS": False, "SMTP_USERNAME": ""}.items():
            monkeypatch.setitem(app.config, key, value)
        (radicale.folder / "users").write_text(f"{radicale.username}:changed-elsewhere\n")  # password changed
        assert sync(app, created["id"]) == "reauth required"
        [message] = sink.wait_for(1)
        assert message.to == provider_email and "Reconnect" in message.subject
        assert radicale.password not in message.raw.decode()
        assert sync(app, created["id"]).startswith("waiting")
        # "Sync now" after reconnecting (here: the password is right again) tries at once
        (radicale.folder / "users").write_text(f"{radicale.username}:{radicale.password}\n")
        assert admin.post(f"{CONNECTIONS}/{created['id']}/sync").status_code == 202
        assert sync(app, created["id"]).startswith("ok")
        assert sink.count() == 1  # told once
    assert admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))["status"] == "ok"
