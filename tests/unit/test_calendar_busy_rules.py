"""Busy rules for external calendar events (app/calendars/busy.py), table-tested with DST cases."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from app.calendars import busy
from app.calendars.busy import BusyInterval, intervals_from_calendar, webhook_interval
from app.calendars.errors import CalendarSyncError

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
WINDOW = (datetime(2027, 1, 1, tzinfo=timezone.utc), datetime(2027, 12, 31, tzinfo=timezone.utc))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def calendar(*events: str, extra: str = "") -> str:
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n".replace("\n", "\r\n").replace("\r\r", "\r")
                   for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{extra}{body}END:VCALENDAR\r\n"


def spans(ics: str, zone=BERLIN, **kwargs) -> list[tuple[str, str]]:
    found = intervals_from_calendar(ics, zone=zone, window_start=WINDOW[0], window_end=WINDOW[1], **kwargs)
    return [(i.start.isoformat(), i.end.isoformat()) for i in found]


@pytest.mark.parametrize(("event", "zone", "expected"), [
    # an ordinary zoned event
    ("UID:a\nDTSTART;TZID=Europe/Berlin:20270310T090000\nDTEND;TZID=Europe/Berlin:20270310T100000", BERLIN,
     [("2027-03-10T08:00:00+00:00", "2027-03-10T09:00:00+00:00")]),
    # UTC event
    ("UID:a\nDTSTART:20270310T090000Z\nDTEND:20270310T100000Z", NEW_YORK,
     [("2027-03-10T09:00:00+00:00", "2027-03-10T10:00:00+00:00")]),
    # floating time is the provider's local time (Berlin winter +01:00, New York summer -04:00)
    ("UID:a\nDTSTART:20270310T090000\nDTEND:20270310T100000", BERLIN,
     [("2027-03-10T08:00:00+00:00", "2027-03-10T09:00:00+00:00")]),
    ("UID:a\nDTSTART:20270315T090000\nDTEND:20270315T100000", NEW_YORK,
     [("2027-03-15T13:00:00+00:00", "2027-03-15T14:00:00+00:00")]),
    # DURATION instead of DTEND
    ("UID:a\nDTSTART:20270310T090000Z\nDURATION:PT45M", BERLIN,
     [("2027-03-10T09:00:00+00:00", "2027-03-10T09:45:00+00:00")]),
    # all-day: the provider's local day; the Berlin spring-forward day is 23 hours long
    ("UID:a\nDTSTART;VALUE=DATE:20270328\nDTEND;VALUE=DATE:20270329", BERLIN,
     [("2027-03-27T23:00:00+00:00", "2027-03-28T22:00:00+00:00")]),
    # all-day without DTEND: one day; New York fall-back day is 25 hours long
    ("UID:a\nDTSTART;VALUE=DATE:20271107", NEW_YORK,
     [("2027-11-07T04:00:00+00:00", "2027-11-08T05:00:00+00:00")]),
    # a multi-day all-day event across the Berlin fall-back change
    ("UID:a\nDTSTART;VALUE=DATE:20271030\nDTEND;VALUE=DATE:20271101", BERLIN,
     [("2027-10-29T22:00:00+00:00", "2027-10-31T23:00:00+00:00")]),
    # events that never block
    ("UID:a\nSTATUS:CANCELLED\nDTSTART:20270310T090000Z\nDTEND:20270310T100000Z", BERLIN, []),
    ("UID:a\nTRANSP:TRANSPARENT\nDTSTART:20270310T090000Z\nDTEND:20270310T100000Z", BERLIN, []),
    ("UID:a\nX-MICROSOFT-CDO-BUSYSTATUS:FREE\nDTSTART:20270310T090000Z\nDTEND:20270310T100000Z", BERLIN, []),
    ("UID:x@bookwell\nDTSTART:20270310T090000Z\nDTEND:20270310T100000Z", BERLIN, []),
    ("UID:a\nX-BOOKWELL-BOOKING:1\nDTSTART:20270310T090000Z\nDTEND:20270310T100000Z", BERLIN, []),
    ("UID:a\nDTSTART:20270310T090000Z\nDTEND:20270310T090000Z", BERLIN, []),  # zero length
    # tentative still blocks
    ("UID:a\nSTATUS:TENTATIVE\nDTSTART:20270310T090000Z\nDTEND:20270310T100000Z", BERLIN,
     [("2027-03-10T09:00:00+00:00", "2027-03-10T10:00:00+00:00")]),
])
def test_single_events(event, zone, expected):
    assert spans(calendar(event), zone) == expected


def test_declined_by_the_provider_never_blocks_but_declined_by_others_does():
    event = ("UID:a\nDTSTART:20270310T090000Z\nDTEND:20270310T100000Z\n"
             "ATTENDEE;PARTSTAT=DECLINED:mailto:Dr.Weber@Example.org\n"
             "ATTENDEE;PARTSTAT=ACCEPTED:mailto:other@example.org")
    assert spans(calendar(event), self_addresses={"dr.weber@example.org"}) == []
    assert len(spans(calendar(event), self_addresses={"other@example.org"})) == 1


def test_named_own_uids_are_skipped():
    event = "UID:written-elsewhere\nDTSTART:20270310T090000Z\nDTEND:20270310T100000Z"
    assert spans(calendar(event), own_uids={"written-elsewhere"}) == []


@pytest.mark.parametrize(("zone", "tzid", "before", "after"), [
    # Berlin changes on 2027-03-28: 09:00 local is 08:00Z before and 07:00Z after
    (BERLIN, "Europe/Berlin", "2027-03-22T08:00:00+00:00", "2027-03-29T07:00:00+00:00"),
    # New York changes on 2027-03-14: 09:00 local is 14:00Z before and 13:00Z after
    (NEW_YORK, "America/New_York", "2027-03-08T14:00:00+00:00", "2027-03-15T13:00:00+00:00"),
])
def test_weekly_series_keeps_its_wall_clock_across_dst(zone, tzid, before, after):
    first = "20270322T090000" if zone is BERLIN else "20270308T090000"
    for start in (f"DTSTART;TZID={tzid}:{first}", f"DTSTART:{first}"):  # zoned and floating
        ics = calendar(f"UID:w\n{start}\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;COUNT=2")
        assert [s for s, _ in spans(ics, zone)] == [before, after]


def test_exdate_and_moved_instance_are_honoured():
    ics = calendar(
        "UID:w\nDTSTART;TZID=Europe/Berlin:20270301T090000\nDTEND;TZID=Europe/Berlin:20270301T100000\n"
        "RRULE:FREQ=WEEKLY;COUNT=4\nEXDATE;TZID=Europe/Berlin:20270308T090000",
        "UID:w\nRECURRENCE-ID;TZID=Europe/Berlin:20270315T090000\n"
        "DTSTART;TZID=Europe/Berlin:20270315T140000\nDTEND;TZID=Europe/Berlin:20270315T150000",
        "UID:w\nRECURRENCE-ID;TZID=Europe/Berlin:20270322T090000\nSTATUS:CANCELLED\n"
        "DTSTART;TZID=Europe/Berlin:20270322T090000\nDTEND;TZID=Europe/Berlin:20270322T100000",
    )
    assert [s for s, _ in spans(ics)] == ["2027-03-01T08:00:00+00:00", "2027-03-15T13:00:00+00:00"]


def test_x_wr_timezone_is_repaired():
    ics = calendar("UID:a\nDTSTART:20270701T070000Z\nDTEND:20270701T080000Z",
                   extra="X-WR-TIMEZONE:America/New_York\r\n")
    assert spans(ics, BERLIN) == [("2027-07-01T07:00:00+00:00", "2027-07-01T08:00:00+00:00")]


def test_window_limits_the_expansion_of_an_endless_series():
    ics = calendar("UID:d\nDTSTART:20270101T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY")
    found = intervals_from_calendar(ics, zone=BERLIN, window_start=utc("2027-02-01T00:00:00+00:00"),
                                    window_end=utc("2027-02-08T00:00:00+00:00"))
    assert len(found) == 7 and {i.uid for i in found} == {"d"}


@pytest.mark.parametrize("rule", [
    "FREQ=SECONDLY", "FREQ=MINUTELY", "FREQ=MINUTELY;INTERVAL=14", "FREQ=HOURLY;BYSECOND=0,30",
    "FREQ=DAILY;BYHOUR=9;BYMINUTE=0,10,20,30,40",
])
def test_a_series_repeating_more_often_than_every_fifteen_minutes_refuses_the_calendar(rule):
    """A few hundred bytes must not expand into millions of busy times (the expansion library
    computes a whole window at once): refused from the rule, before any expansion."""
    ics = calendar(f"UID:dense\nDTSTART:20270101T090000Z\nDURATION:PT1M\nRRULE:{rule}",
                   "UID:ok\nDTSTART:20270310T090000Z\nDTEND:20270310T100000Z")
    with pytest.raises(CalendarSyncError, match="more often than every 15 minutes"):
        spans(ics)


def test_every_fifteen_minutes_is_read_and_a_calendar_past_the_cap_is_refused(monkeypatch):
    quarter = calendar("UID:q\nDTSTART:20270201T000000Z\nDURATION:PT5M\nRRULE:FREQ=MINUTELY;INTERVAL=15")
    found = intervals_from_calendar(quarter, zone=BERLIN, window_start=utc("2027-02-01T00:00:00+00:00"),
                                    window_end=utc("2027-02-02T00:00:00+00:00"))
    assert len(found) == 96
    monkeypatch.setattr(busy, "MAX_INSTANCES", 95)
    with pytest.raises(CalendarSyncError, match="more than 95 busy times"):
        intervals_from_calendar(quarter, zone=BERLIN, window_start=utc("2027-02-01T00:00:00+00:00"),
                                window_end=utc("2027-02-02T00:00:00+00:00"))


@pytest.mark.parametrize(("event", "zone", "expected"), [
    ({"id": "e", "status": "confirmed", "start": utc("2027-03-10T09:00:00+01:00"),
      "end": utc("2027-03-10T10:00:00+01:00")}, BERLIN,
     BusyInterval(utc("2027-03-10T08:00:00+00:00"), utc("2027-03-10T09:00:00+00:00"), "e")),
    ({"id": "e", "status": "tentative", "date": date(2027, 3, 14)}, NEW_YORK,  # 23-hour day
     BusyInterval(utc("2027-03-14T05:00:00+00:00"), utc("2027-03-15T04:00:00+00:00"), "e")),
    ({"id": "e", "status": "confirmed", "date": date(2027, 10, 30), "end_date": date(2027, 11, 1)}, BERLIN,
     BusyInterval(utc("2027-10-29T22:00:00+00:00"), utc("2027-10-31T23:00:00+00:00"), "e")),
    ({"id": "e", "status": "cancelled", "date": date(2027, 3, 14)}, BERLIN, None),
    ({"id": "e", "status": "confirmed", "transparency": "transparent", "date": date(2027, 3, 14)}, BERLIN, None),
])
def test_webhook_events(event, zone, expected):
    assert webhook_interval(event, zone) == expected
