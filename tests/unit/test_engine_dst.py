"""Time zones and DST: a window covers every instant whose local time falls inside it.

A gap shortens a window, a repeated hour lengthens it, and the grid runs in
real elapsed time. Expected starts carry their offset, so both passes of a
repeated 01:30 are told apart.
"""
from __future__ import annotations

import pytest

from tests.unit.engine_builders import dated_starts, rule, slots, spec, starts, utc

NEW_YORK = "America/New_York"
LONDON = "Europe/London"
LORD_HOWE = "Australia/Lord_Howe"  # shifts by 30 minutes: +10:30 in winter, +11:00 in summer
SANTIAGO = "America/Santiago"  # shifts at midnight


@pytest.mark.parametrize(
    ("tz", "day", "window", "duration", "breaks", "expected"),
    [
        # New York spring forward 2027-03-14, 02:00 EST -> 03:00 EDT
        # DST gap: six wall-clock hours are five real hours, so five slots
        (NEW_YORK, "2027-03-14", ("00:00", "06:00"), 60, [],
         ["00:00-05:00", "01:00-05:00", "03:00-04:00", "04:00-04:00", "05:00-04:00"]),
        # a window starting inside the gap starts at 03:00 EDT
        (NEW_YORK, "2027-03-14", ("02:30", "05:00"), 30, [],
         ["03:00-04:00", "03:30-04:00", "04:00-04:00", "04:30-04:00"]),
        # a window ending inside the gap ends at the transition
        (NEW_YORK, "2027-03-14", ("00:00", "02:30"), 30, [],
         ["00:00-05:00", "00:30-05:00", "01:00-05:00", "01:30-05:00"]),
        # the grid steps in real time across the gap: 01:30 EST + 75 minutes is 03:45 EDT
        (NEW_YORK, "2027-03-14", ("01:30", "05:00"), 75, [], ["01:30-05:00", "03:45-04:00"]),
        # two wall-clock hours around the gap hold one real hour
        (NEW_YORK, "2027-03-14", ("01:00", "03:00"), 60, [], ["01:00-05:00"]),
        # a window wholly inside the gap never happens
        (NEW_YORK, "2027-03-14", ("02:00", "02:45"), 15, [], []),
        # a break wholly inside the gap removes nothing
        (NEW_YORK, "2027-03-14", ("00:00", "05:00"), 60, [("02:00", "02:30")],
         ["00:00-05:00", "01:00-05:00", "03:00-04:00", "04:00-04:00"]),
        # a break across the gap: 01:30 EST to 03:30 EDT is one real hour
        (NEW_YORK, "2027-03-14", ("00:00", "05:00"), 30, [("01:30", "03:30")],
         ["00:00-05:00", "00:30-05:00", "01:00-05:00", "03:30-04:00", "04:00-04:00", "04:30-04:00"]),
        # New York fall back 2027-11-07, 02:00 EDT -> 01:00 EST
        # repeated hour: six wall-clock hours are seven real hours, both 01:00s offered
        (NEW_YORK, "2027-11-07", ("00:00", "06:00"), 60, [],
         ["00:00-04:00", "01:00-04:00", "01:00-05:00", "02:00-05:00", "03:00-05:00", "04:00-05:00",
          "05:00-05:00"]),
        # a window of the repeated hour covers both of its passes
        (NEW_YORK, "2027-11-07", ("01:00", "02:00"), 30, [],
         ["01:00-04:00", "01:30-04:00", "01:00-05:00", "01:30-05:00"]),
        # a window starting in the repeated hour starts at its first pass
        (NEW_YORK, "2027-11-07", ("01:30", "03:00"), 60, [], ["01:30-04:00", "01:30-05:00"]),
        # a window ending in the repeated hour ends at its second pass
        (NEW_YORK, "2027-11-07", ("00:00", "01:30"), 30, [],
         ["00:00-04:00", "00:30-04:00", "01:00-04:00", "01:30-04:00", "01:00-05:00"]),
        # a break in the repeated hour removes both passes
        (NEW_YORK, "2027-11-07", ("00:00", "04:00"), 60, [("01:00", "02:00")],
         ["00:00-04:00", "02:00-05:00", "03:00-05:00"]),
        # London spring forward 2027-03-28, 01:00 GMT -> 02:00 BST
        # DST gap at 01:00 local
        (LONDON, "2027-03-28", ("00:00", "04:00"), 60, [], ["00:00+00:00", "02:00+01:00", "03:00+01:00"]),
        # a start inside the gap moves to 02:00 BST
        (LONDON, "2027-03-28", ("01:30", "03:00"), 30, [], ["02:00+01:00", "02:30+01:00"]),
        # London fall back 2027-10-31, 02:00 BST -> 01:00 GMT
        # repeated 01:00 hour: both passes
        (LONDON, "2027-10-31", ("00:00", "04:00"), 60, [],
         ["00:00+01:00", "01:00+01:00", "01:00+00:00", "02:00+00:00", "03:00+00:00"]),
        # a window of just the repeated hour holds two visits
        (LONDON, "2027-10-31", ("01:00", "02:00"), 60, [], ["01:00+01:00", "01:00+00:00"]),
        # Lord Howe fall back 2027-04-04, 02:00 +11:00 -> 01:30 +10:30 (a 30-minute shift)
        # the repeated half hour: 01:30+11:00 and 01:30+10:30 both offered
        (LORD_HOWE, "2027-04-04", ("00:00", "03:00"), 30, [],
         ["00:00+11:00", "00:30+11:00", "01:00+11:00", "01:30+11:00", "01:30+10:30", "02:00+10:30",
          "02:30+10:30"]),
        # a window of just the repeated half hour
        (LORD_HOWE, "2027-04-04", ("01:30", "02:00"), 30, [], ["01:30+11:00", "01:30+10:30"]),
        # Lord Howe spring forward 2027-10-03, 02:00 +10:30 -> 02:30 +11:00
        # half-hour gap: four wall-clock hours are three and a half real hours
        (LORD_HOWE, "2027-10-03", ("00:00", "04:00"), 60, [], ["00:00+10:30", "01:00+10:30", "02:30+11:00"]),
        # a start inside the half-hour gap moves to 02:30
        (LORD_HOWE, "2027-10-03", ("02:00", "03:00"), 30, [], ["02:30+11:00"]),
        # the grid across the gap: 01:30 + 30 minutes is 02:30
        (LORD_HOWE, "2027-10-03", ("01:30", "03:00"), 30, [], ["01:30+10:30", "02:30+11:00"]),
        # Santiago spring forward 2027-09-05 at midnight: the day starts at 01:00
        (SANTIAGO, "2027-09-05", ("00:00", "03:00"), 60, [], ["01:00-03:00", "02:00-03:00"]),
    ],
)
def test_dst_transitions_shorten_and_lengthen_windows(tz, day, window, duration, breaks, expected):
    found = slots(spec(duration), [rule(*window, tz=tz, breaks=breaks)], day)
    assert starts(found, tz) == expected
    assert all(s.local_date.isoformat() == day for s in found)


@pytest.mark.parametrize(
    ("tz", "day", "offset"),
    [
        # New York, the day before spring forward: still EST
        (NEW_YORK, "2027-03-13", "-05:00"),
        # New York, the day after spring forward: EDT all day
        (NEW_YORK, "2027-03-15", "-04:00"),
        # New York, the day before fall back: still EDT
        (NEW_YORK, "2027-11-06", "-04:00"),
        # New York, the day after fall back: EST all day
        (NEW_YORK, "2027-11-08", "-05:00"),
        # London, the day before spring forward: GMT
        (LONDON, "2027-03-27", "+00:00"),
        # London, the day after spring forward: BST
        (LONDON, "2027-03-29", "+01:00"),
        # London, the day before fall back: BST
        (LONDON, "2027-10-30", "+01:00"),
        # London, the day after fall back: GMT
        (LONDON, "2027-11-01", "+00:00"),
        # Lord Howe, the day before fall back: +11:00
        (LORD_HOWE, "2027-04-03", "+11:00"),
        # Lord Howe, the day after fall back: +10:30
        (LORD_HOWE, "2027-04-05", "+10:30"),
        # Lord Howe, the day before spring forward: +10:30
        (LORD_HOWE, "2027-10-02", "+10:30"),
        # Lord Howe, the day after spring forward: +11:00
        (LORD_HOWE, "2027-10-04", "+11:00"),
        # Santiago, the day before its midnight spring forward
        (SANTIAGO, "2027-09-04", "-04:00"),
        # Kolkata has no DST: New York's spring-forward date is an ordinary day there
        ("Asia/Kolkata", "2027-03-14", "+05:30"),
        # Kathmandu has no DST either
        ("Asia/Kathmandu", "2027-11-07", "+05:45"),
        # UTC on London's spring-forward date
        ("UTC", "2027-03-28", "+00:00"),
    ],
)
def test_an_ordinary_day_next_to_a_transition_is_unaffected(tz, day, offset):
    found = slots(spec(60), [rule("00:00", "06:00", tz=tz)], day)
    assert starts(found, tz) == [f"0{h}:00{offset}" for h in range(6)]


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        # +05:30
        ("Asia/Kolkata", ["2027-05-03T03:30Z"]),
        # +05:45
        ("Asia/Kathmandu", ["2027-05-03T03:15Z"]),
        # -09:30, west of UTC and off the hour
        ("Pacific/Marquesas", ["2027-05-03T18:30Z"]),
        # +12:45 in the southern winter
        ("Pacific/Chatham", ["2027-05-02T20:15Z"]),
    ],
)
def test_zones_off_the_hour_give_instants_off_the_hour(tz, expected):
    assert [utc(s.start) for s in slots(spec(60), [rule("09:00", "10:00", tz=tz)], "2027-05-03")] == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # summer in both: Berlin +02:00, New York -04:00
        ("2027-05-03", [("2027-05-03T07:00Z", "berlin"), ("2027-05-03T13:00Z", "new-york")]),
        # the weeks when only New York has changed its clocks: Berlin +01:00, New York -04:00
        ("2027-03-20", [("2027-03-20T08:00Z", "berlin"), ("2027-03-20T13:00Z", "new-york")]),
        # winter in both: Berlin +01:00, New York -05:00
        ("2027-01-11", [("2027-01-11T08:00Z", "berlin"), ("2027-01-11T14:00Z", "new-york")]),
    ],
)
def test_rules_in_two_zones_on_one_local_date_both_give_their_slots(day, expected):
    rules = [rule("09:00", "10:00", tz="America/New_York", location="new-york"),
             rule("09:00", "10:00", tz="Europe/Berlin", location="berlin")]
    found = slots(spec(60), rules, day)
    assert [(utc(s.start), s.location_id) for s in found] == expected
    assert {s.local_date.isoformat() for s in found} == {day}


@pytest.mark.parametrize(
    ("tz", "day", "window", "expected"),
    [
        # an overnight window across New York's spring forward: five real hours, the last slot in EDT
        (NEW_YORK, "2027-03-13", ("22:00", "04:00"),
         ["2027-03-13T22:00-05:00", "2027-03-13T23:00-05:00", "2027-03-14T00:00-05:00",
          "2027-03-14T01:00-05:00", "2027-03-14T03:00-04:00"]),
        # an overnight window across London's fall back: the repeated hour gives one more slot
        (LONDON, "2027-10-30", ("23:00", "03:00"),
         ["2027-10-30T23:00+01:00", "2027-10-31T00:00+01:00", "2027-10-31T01:00+01:00",
          "2027-10-31T01:00+00:00", "2027-10-31T02:00+00:00"]),
        # Santiago falls back at midnight: 23:00 happens twice on 2027-04-03
        (SANTIAGO, "2027-04-03", ("22:00", "01:00"),
         ["2027-04-03T22:00-03:00", "2027-04-03T23:00-03:00", "2027-04-03T23:00-04:00",
          "2027-04-04T00:00-04:00"]),
    ],
)
def test_an_overnight_window_across_a_transition_stays_on_its_start_day(tz, day, window, expected):
    found = slots(spec(60), [rule(*window, tz=tz)], day)
    assert dated_starts(found, tz) == expected
    assert {s.local_date.isoformat() for s in found} == {day}
