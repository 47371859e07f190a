"""ICS feed import from a real local HTTP server: the busy rules end to end, conditional GETs,
and the address guard (loopback/private/link-local refused, redirects included)."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.calendars import fetcher
from app.calendars.ports import CalendarSyncError
from app.calendars.sync import sync_connection
from app.extensions import db
from app.models import CalendarConnection, ExternalBusyTime
from tests.calendar_servers import feed_server
from tests.integration.api_helpers import at
from tests.integration.test_api_admin_setup import (  # noqa: F401 - fixtures
    ADMIN, TZ, admin, clinic, day_slots, next_us_dst_sundays, weekly_rule,
)
from tests.integration.api_helpers import next_weekday

CONNECTIONS = f"{ADMIN}/calendar-connections"


def stamp(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def feed(day: date, dst_sunday: date, *, with_series: bool = True) -> bytes:
    """A weekly series (one EXDATE, one moved and one cancelled instance), an all-day event across a
    DST change, a transparent event and a floating one, in an Outlook-like feed."""
    local = lambda d, hhmm: at(d, hhmm, TZ)  # noqa: E731
    series = f"""BEGIN:VEVENT
UID:weekly-1
DTSTART;TZID=America/New_York:{local(day, '10:00').strftime('%Y%m%dT%H%M%S')}
DTEND;TZID=America/New_York:{local(day, '11:00').strftime('%Y%m%dT%H%M%S')}
RRULE:FREQ=WEEKLY;COUNT=4
EXDATE;TZID=America/New_York:{local(day + timedelta(7), '10:00').strftime('%Y%m%dT%H%M%S')}
SUMMARY:Ward round
END:VEVENT
BEGIN:VEVENT
UID:weekly-1
RECURRENCE-ID;TZID=America/New_York:{local(day + timedelta(14), '10:00').strftime('%Y%m%dT%H%M%S')}
DTSTART;TZID=America/New_York:{local(day + timedelta(14), '14:00').strftime('%Y%m%dT%H%M%S')}
DTEND;TZID=America/New_York:{local(day + timedelta(14), '15:00').strftime('%Y%m%dT%H%M%S')}
SUMMARY:Ward round (moved)
END:VEVENT
BEGIN:VEVENT
UID:weekly-1
RECURRENCE-ID;TZID=America/New_York:{local(day + timedelta(21), '10:00').strftime('%Y%m%dT%H%M%S')}
DTSTART;TZID=America/New_York:{local(day + timedelta(21), '10:00').strftime('%Y%m%dT%H%M%S')}
DTEND;TZID=America/New_York:{local(day + timedelta(21), '11:00').strftime('%Y%m%dT%H%M%S')}
STATUS:CANCELLED
END:VEVENT
""" if with_series else ""
    text = f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Test//Hospital rota//EN
BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:STANDARD
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
END:DAYLIGHT
END:VTIMEZONE
{series}BEGIN:VEVENT
UID:leave-1
DTSTART;VALUE=DATE:{(dst_sunday - timedelta(1)).strftime('%Y%m%d')}
DTEND;VALUE=DATE:{(dst_sunday + timedelta(1)).strftime('%Y%m%d')}
SUMMARY:Conference
END:VEVENT
BEGIN:VEVENT
UID:free-1
DTSTART:{stamp(local(day, '15:00'))}
DTEND:{stamp(local(day, '16:00'))}
TRANSP:TRANSPARENT
SUMMARY:Reminder only
END:VEVENT
BEGIN:VEVENT
UID:floating-1
DTSTART:{local(day, '12:00').strftime('%Y%m%dT%H%M%S')}
DTEND:{local(day, '13:00').strftime('%Y%m%dT%H%M%S')}
SUMMARY:Lunch meeting
END:VEVENT
END:VCALENDAR
"""
    return text.replace("\n", "\r\n").encode()


def busy(app, connection_id) -> list[tuple[str, datetime, datetime]]:
    with app.app_context():
        rows = db.session.scalars(select(ExternalBusyTime).where(ExternalBusyTime.connection_id == connection_id)
                                  .order_by(ExternalBusyTime.start_at))
        return [(r.external_uid, r.start_at, r.end_at) for r in rows]


def sync(app, connection_id) -> str:
    with app.app_context():
        return sync_connection(uuid.UUID(connection_id))


def starts(admin, clinic, day) -> list[str]:
    return [s["local_start"][11:16] for s in day_slots(admin, clinic, day)]


def test_a_feed_blocks_exactly_the_busy_instances_and_conditional_gets_skip_unchanged_feeds(
        app, client, admin, clinic, monkeypatch):
    monkeypatch.setitem(app.config, "CALENDAR_ALLOW_PRIVATE_URLS", True)
    monkeypatch.setitem(app.config, "CALENDAR_HORIZON_DAYS", 400)
    weekly_rule(admin, clinic, [1, 2, 3, 4, 5], "09:00", "17:00")
    day = next_weekday(TZ)
    dst_sunday = min(next_us_dst_sundays())
    with feed_server(feed(day, dst_sunday)) as server:
        created = admin.created(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "ics", "url": server.url})
        assert sync(app, created["id"]).startswith("ok")
        rows = busy(app, uuid.UUID(created["id"]))
        series = [(s, e) for uid, s, e in rows if uid == "weekly-1"]
        assert series == [(at(day, "10:00", TZ), at(day, "11:00", TZ)),
                          (at(day + timedelta(14), "14:00", TZ), at(day + timedelta(14), "15:00", TZ))]
        leave = [(s, e) for uid, s, e in rows if uid == "leave-1"]
        first = dst_sunday - timedelta(1)
        assert leave == [(datetime.combine(first, datetime.min.time(), ZoneInfo(TZ)),
                          datetime.combine(dst_sunday + timedelta(1), datetime.min.time(), ZoneInfo(TZ)))]
        assert (leave[0][1] - leave[0][0]) in (timedelta(hours=47), timedelta(hours=49))  # a DST day inside
        assert {uid for uid, *_ in rows} == {"weekly-1", "leave-1", "floating-1"}  # the transparent one is free
        open_times = starts(admin, clinic, day)
        assert "10:00" not in open_times and "12:00" not in open_times
        assert {"09:00", "11:00", "13:00", "15:00"} <= set(open_times)
        health = admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))
        assert health["status"] == "ok" and health["busy_count"] == len(rows) and health["health"] == "green"
        assert health["last_error"] is None and health["next_sync_at"] > health["last_synced_at"]

        # unchanged: a conditional GET answered 304 changes nothing
        assert sync(app, created["id"]).startswith("ok: 0")
        assert server.requests[-1]["if_none_match"] == server.etag
        # the series goes away in the feed: its busy times go, the slot comes back
        server.body = feed(day, dst_sunday, with_series=False)
        assert sync(app, created["id"]).startswith("ok")
        assert {uid for uid, *_ in busy(app, uuid.UUID(created["id"]))} == {"leave-1", "floating-1"}
        assert "10:00" in starts(admin, clinic, day)

        # a broken feed keeps the last good busy times and says what is wrong, in words
        server.body = b"<html>maintenance</html>"
        assert sync(app, created["id"]).startswith("failed")
        health = admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))
        assert health["status"] == "error" and "not a valid iCalendar" in health["last_error"]
        assert health["busy_count"] == 2 and health["consecutive_failures"] == 1


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.10", "172.16.5.5", "169.254.169.254",
                                     "::1", "fe80::1", "fc00::1", "0.0.0.0", "100.64.0.1", "::ffff:127.0.0.1"])
def test_non_public_addresses_are_refused(address):
    with pytest.raises(fetcher.BlockedAddress):
        fetcher.check_host(address, 80, allow_private=False)
    assert fetcher.check_host(address, 80, allow_private=True) == address


def test_a_name_that_resolves_to_loopback_is_refused():
    with pytest.raises(fetcher.BlockedAddress):
        fetcher.check_host("localhost", 80, allow_private=False)


def test_redirects_are_checked_hop_by_hop(monkeypatch):
    with feed_server(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n") as server:
        real = fetcher.check_host
        # the test server itself is let through; every other hop gets the real check
        monkeypatch.setattr(fetcher, "check_host", lambda host, port, allow: (
            real(host, port, True) if port == server.port else real(host, port, allow)))
        server.redirects["/meta"] = "http://169.254.169.254/latest/meta-data/"
        server.redirects["/inside"] = "http://10.0.0.7:8080/feed.ics"
        for path in ("/meta", "/inside"):
            with pytest.raises(fetcher.BlockedAddress):
                fetcher.fetch(f"http://127.0.0.1:{server.port}{path}", allow_private=False)
        server.redirects["/ok"] = "/feed.ics"
        assert fetcher.fetch(f"http://127.0.0.1:{server.port}/ok", allow_private=False).status == 200


def test_a_redirect_to_another_address_goes_on_without_the_credentials():
    secret = {"Authorization": "Bearer calendar-token", "Cookie": "session=abc"}
    with feed_server(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n") as first, \
            feed_server(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n") as other:
        first.redirects["/same"] = "/feed.ics"
        fetcher.fetch(f"http://127.0.0.1:{first.port}/same", auth=("dr.weber", "app-password"), allow_private=True)
        assert first.requests[-1]["authorization"].startswith("Basic ")  # same host and port: kept
        for name in ("127.0.0.1", "localhost"):  # another port of the same host, then another host
            other.requests.clear()
            first.redirects["/away"] = f"http://{name}:{other.port}/feed.ics"
            response = fetcher.fetch(f"http://127.0.0.1:{first.port}/away", auth=("dr.weber", "app-password"),
                                     headers=dict(secret), allow_private=True)
            assert response.status == 200 and response.url.endswith(f":{other.port}/feed.ics")
            assert [(r["authorization"], r["cookie"]) for r in other.requests] == [(None, None)]
        # a POST's body moved by 307 to another address is not sent there at all; by 302 it
        # becomes a GET without the body, as in browsers
        first.redirects["/token"] = f"http://127.0.0.1:{other.port}/feed.ics"
        other.requests.clear()
        first.redirect_status = 307
        with pytest.raises(CalendarSyncError, match="another address"):
            fetcher.fetch(f"http://127.0.0.1:{first.port}/token", method="POST", body=b"client_secret=s",
                          allow_private=True)
        first.redirect_status = 302
        fetcher.fetch(f"http://127.0.0.1:{first.port}/token", method="POST", body=b"client_secret=s",
                      allow_private=True)
        assert [(r["method"], r["body"]) for r in other.requests] == [("GET", b"")]
        other.requests.clear()
        assert other.requests == []


def test_size_limit_and_a_refused_connection_are_errors_in_words():
    with feed_server(b"X" * 5000) as server:
        with pytest.raises(CalendarSyncError, match="larger than"):
            fetcher.fetch(server.url, allow_private=True, max_bytes=1000)
        url = server.url
    with pytest.raises(CalendarSyncError, match="Could not reach"):
        fetcher.fetch(url, allow_private=True, timeout=2)


def test_a_private_feed_url_is_refused_without_the_setting(app, client, admin, clinic, monkeypatch):
    monkeypatch.setitem(app.config, "CALENDAR_ALLOW_PRIVATE_URLS", False)
    with feed_server(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n") as server:
        created = admin.created(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "ics", "url": server.url})
        assert sync(app, created["id"]).startswith("failed")
        assert server.requests == []
    health = admin.ok(admin.get(f"{CONNECTIONS}/{created['id']}"))
    assert health["status"] == "error" and "private or local network" in health["last_error"]
    with app.app_context():
        connection = db.session.get(CalendarConnection, uuid.UUID(created["id"]))
        assert connection.next_sync_at > connection.last_attempt_at  # backed off, not hammering


def test_the_sweep_picks_due_connections_and_skips_leased_or_reauth_ones(app, client, admin, clinic):
    from app.calendars.jobs import due_connections
    from app.calendars.sync import claim, release
    from app.database import write_transaction
    from app.models import utcnow

    ids = [admin.created(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "ics",
                                       "url": f"https://calendar.example.org/{n}.ics"})["id"] for n in range(4)]
    hook = admin.created(CONNECTIONS, {"provider_id": clinic.provider_id, "kind": "webhook"})
    with app.app_context():
        now = utcnow()
        with write_transaction():
            rows = {str(c.id): c for c in db.session.scalars(select(CalendarConnection))}
            rows[ids[0]].sync_requested_at = None
            rows[ids[0]].next_sync_at = now + timedelta(minutes=10)  # not due
            rows[ids[1]].sync_requested_at = None
            rows[ids[1]].next_sync_at = now - timedelta(seconds=1)  # due
            rows[ids[2]].status = "reauth_required"  # waits for the provider
        assert claim(uuid.UUID(ids[3]), "worker-a")  # "Sync now" but leased by a worker
        assert not claim(uuid.UUID(ids[3]), "worker-b")
        due = {str(i) for i in due_connections()}
        assert due == {ids[1]} and hook["id"] not in due
        release(uuid.UUID(ids[3]), "worker-a")
        assert {str(i) for i in due_connections()} == {ids[1], ids[3]}
