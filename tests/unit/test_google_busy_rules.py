"""Google's event shape through the busy rules (pure): what blocks time and what does not."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from app.calendars.google import code_challenge, event_intervals

BERLIN = ZoneInfo("Europe/Berlin")


def test_an_all_day_event_blocks_the_local_day_even_on_a_dst_day():
    [interval] = event_intervals({"id": "leave", "start": {"date": "2027-03-28"}, "end": {"date": "2027-03-29"}},
                                 BERLIN)
    assert interval.start == datetime(2027, 3, 27, 23, tzinfo=timezone.utc)
    assert interval.end == datetime(2027, 3, 28, 22, tzinfo=timezone.utc)  # 23 hours long


def test_free_declined_cancelled_own_and_working_location_events_do_not_block():
    base = {"start": {"dateTime": "2027-03-10T09:00:00+01:00"}, "end": {"dateTime": "2027-03-10T10:00:00+01:00"}}
    assert event_intervals({"id": "a", **base}, BERLIN)[0].start == datetime(2027, 3, 10, 8, tzinfo=timezone.utc)
    assert event_intervals({"id": "b", **base, "transparency": "transparent"}, BERLIN) == []
    assert event_intervals({"id": "c", **base, "status": "cancelled"}, BERLIN) == []
    assert event_intervals({"id": "d", **base, "attendees": [{"self": True, "responseStatus": "declined"}]},
                           BERLIN) == []
    assert event_intervals({"id": "e", **base, "extendedProperties": {"private": {"bookwell_booking": "x"}}},
                           BERLIN) == []
    assert event_intervals({"id": "f", **base, "eventType": "workingLocation"}, BERLIN) == []
    assert len(event_intervals({"id": "g", **base, "eventType": "outOfOffice"}, BERLIN)) == 1
    assert event_intervals({"id": "h", "start": base["start"], "end": base["start"]}, BERLIN) == []


def test_the_pkce_challenge_is_unpadded_url_safe_sha256():
    challenge = code_challenge("a" * 64)
    assert len(challenge) == 43 and "=" not in challenge and "+" not in challenge and "/" not in challenge
    assert challenge != code_challenge("b" * 64)
