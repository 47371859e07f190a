"""Windows, the grid, breaks, validity, priorities, overnight windows and extra windows.

All in Europe/Berlin during summer time (+02:00); 2027-05-03 is a Monday.
"""
from __future__ import annotations

from datetime import date

import pytest

from app.scheduling.engine import rule_windows
from tests.unit.engine_builders import (
    OTHER_TYPE,
    TYPE,
    WORKDAYS,
    at,
    dated_starts,
    extra,
    rule,
    slots,
    spec,
    starts,
    utc,
)

MONDAY = "2027-05-03"
WEEK = ("2027-05-03", "2027-05-09")  # Monday..Sunday


@pytest.mark.parametrize(
    ("the_rule", "the_spec", "expected"),
    [
        # the docstring's example: the grid starts at the window's start, not on the hour
        (rule("09:30", "11:30"), spec(60), ["09:30+02:00", "10:30+02:00"]),
        # a slot interval shorter than the visit gives overlapping starts
        (rule("09:00", "10:30"), spec(30, slot_interval_minutes=15),
         ["09:00+02:00", "09:15+02:00", "09:30+02:00", "09:45+02:00", "10:00+02:00"]),
        # a slot interval longer than the visit leaves gaps; the last visit ends exactly at the window's end
        (rule("09:00", "11:00"), spec(30, slot_interval_minutes=45), ["09:00+02:00", "09:45+02:00", "10:30+02:00"]),
        # a window shorter than the visit gives nothing
        (rule("09:00", "09:45"), spec(60), []),
        # a visit exactly filling the window fits
        (rule("09:00", "10:00"), spec(60), ["09:00+02:00"]),
        # a leftover shorter than the visit is dropped
        (rule("09:00", "10:50"), spec(60), ["09:00+02:00"]),
        # a visit of an odd length on a window off the hour
        (rule("08:10", "10:00"), spec(25), ["08:10+02:00", "08:35+02:00", "09:00+02:00", "09:25+02:00"]),
    ],
)
def test_the_grid_starts_at_the_window_start_and_steps_by_the_interval(the_rule, the_spec, expected):
    assert starts(slots(the_spec, [the_rule], MONDAY)) == expected


@pytest.mark.parametrize(
    ("breaks", "duration", "expected"),
    [
        # the grid restarts at the break's end, not on the old grid
        ([("10:00", "10:20")], 60, ["08:00+02:00", "09:00+02:00", "10:20+02:00"]),
        # a visit cannot straddle a break
        ([("10:30", "11:00")], 60, ["08:00+02:00", "09:00+02:00", "11:00+02:00"]),
        # two breaks make three pieces, each with its own grid
        ([("09:00", "09:15"), ("10:45", "11:00")], 30,
         ["08:00+02:00", "08:30+02:00", "09:15+02:00", "09:45+02:00", "10:15+02:00", "11:00+02:00",
          "11:30+02:00"]),
        # a break at the window's start moves the first slot
        ([("08:00", "08:30")], 60, ["08:30+02:00", "09:30+02:00", "10:30+02:00"]),
        # a break at the window's end: the last visit may end where the break begins
        ([("11:00", "12:00")], 60, ["08:00+02:00", "09:00+02:00", "10:00+02:00"]),
        # a break outside the window changes nothing
        ([("13:00", "14:00")], 120, ["08:00+02:00", "10:00+02:00"]),
        # a break covering the whole window leaves nothing
        ([("07:00", "13:00")], 30, []),
    ],
)
def test_breaks_cut_the_window_and_the_grid_restarts_after_them(breaks, duration, expected):
    assert starts(slots(spec(duration), [rule("08:00", "12:00", breaks=breaks)], MONDAY)) == expected


@pytest.mark.parametrize(
    ("valid_from", "valid_to", "expected_days"),
    [
        # both ends are inclusive local dates
        ("2027-05-04", "2027-05-06", ["2027-05-04", "2027-05-05", "2027-05-06"]),
        # a one-day range
        ("2027-05-05", "2027-05-05", ["2027-05-05"]),
        # open end: from a date on
        ("2027-05-06", None, ["2027-05-06", "2027-05-07"]),
        # open start: up to a date
        (None, "2027-05-04", ["2027-05-03", "2027-05-04"]),
        # a range that ended the week before
        ("2027-04-01", "2027-05-02", []),
        # a range that starts the week after
        ("2027-05-10", "2027-05-31", []),
    ],
)
def test_valid_from_and_valid_to_are_inclusive_local_dates(valid_from, valid_to, expected_days):
    the_rule = rule("09:00", "10:00", weekdays=WORKDAYS, valid_from=valid_from, valid_to=valid_to)
    assert dated_starts(slots(spec(60), [the_rule], *WEEK)) == [f"{d}T09:00+02:00" for d in expected_days]


@pytest.mark.parametrize(
    ("weekdays", "expected_days"),
    [
        # ISO weekdays: Monday is 1
        ({1}, ["2027-05-03"]),
        # ... and Sunday is 7, not 0
        ({7}, ["2027-05-09"]),
        # the weekend
        ({6, 7}, ["2027-05-08", "2027-05-09"]),
        # every other day
        ({1, 3, 5}, ["2027-05-03", "2027-05-05", "2027-05-07"]),
        # no weekday at all
        (set(), []),
    ],
)
def test_weekdays_are_iso_weekdays(weekdays, expected_days):
    found = slots(spec(60), [rule("09:00", "10:00", weekdays=weekdays)], *WEEK)
    assert dated_starts(found) == [f"{d}T09:00+02:00" for d in expected_days]


@pytest.mark.parametrize(
    ("the_rule", "duration", "days", "expected"),
    [
        # slots after midnight belong to the provider-day the window started on
        (rule("22:00", "02:00", weekdays={1}), 60, (MONDAY, MONDAY),
         [("2027-05-03T22:00+02:00", "2027-05-03"), ("2027-05-03T23:00+02:00", "2027-05-03"),
          ("2027-05-04T00:00+02:00", "2027-05-03"), ("2027-05-04T01:00+02:00", "2027-05-03")]),
        # the after-midnight part of Monday's window is not Tuesday's
        (rule("22:00", "02:00", weekdays={1}), 60, ("2027-05-04", "2027-05-04"), []),
        # Tuesday's query has Tuesday's own window only, not Monday's tail
        (rule("22:00", "02:00", weekdays={1, 2}), 120, ("2027-05-04", "2027-05-04"),
         [("2027-05-04T22:00+02:00", "2027-05-04"), ("2027-05-05T00:00+02:00", "2027-05-04")]),
        # a break spanning midnight
        (rule("22:00", "02:00", weekdays={1}, breaks=[("23:30", "00:30")]), 60, (MONDAY, MONDAY),
         [("2027-05-03T22:00+02:00", "2027-05-03"), ("2027-05-04T00:30+02:00", "2027-05-03")]),
        # a break wholly after midnight belongs to the same window
        (rule("22:00", "02:00", weekdays={1}, breaks=[("00:00", "00:30")]), 60, (MONDAY, MONDAY),
         [("2027-05-03T22:00+02:00", "2027-05-03"), ("2027-05-03T23:00+02:00", "2027-05-03"),
          ("2027-05-04T00:30+02:00", "2027-05-03")]),
        # a window ending exactly at midnight (end 00:00 <= start)
        (rule("22:00", "00:00", weekdays={1}), 60, (MONDAY, MONDAY),
         [("2027-05-03T22:00+02:00", "2027-05-03"), ("2027-05-03T23:00+02:00", "2027-05-03")]),
        # Sunday's overnight window runs into the next week's Monday and stays Sunday's
        (rule("23:00", "01:00", weekdays={7}), 60, ("2027-05-09", "2027-05-09"),
         [("2027-05-09T23:00+02:00", "2027-05-09"), ("2027-05-10T00:00+02:00", "2027-05-09")]),
        # a visit straddling midnight is one visit
        (rule("23:00", "01:00", weekdays={1}), 120, (MONDAY, MONDAY), [("2027-05-03T23:00+02:00", "2027-05-03")]),
        # end == start: a 24-hour window
        (rule("06:00", "06:00", weekdays={1}), 360, (MONDAY, MONDAY),
         [("2027-05-03T06:00+02:00", "2027-05-03"), ("2027-05-03T12:00+02:00", "2027-05-03"),
          ("2027-05-03T18:00+02:00", "2027-05-03"), ("2027-05-04T00:00+02:00", "2027-05-03")]),
    ],
)
def test_a_window_crossing_midnight_belongs_to_the_day_it_started(the_rule, duration, days, expected):
    found = slots(spec(duration), [the_rule], *days)
    assert [(dated_starts([s])[0], s.local_date.isoformat()) for s in found] == expected


@pytest.mark.parametrize(
    ("the_rule", "expected"),
    [
        # a daytime window: the part of the break inside the window is cut
        (rule("09:00", "11:00", breaks=[("08:00", "09:30")]), ["2027-05-03T09:30+02:00", "2027-05-03T10:00+02:00",
                                                                 "2027-05-03T10:30+02:00"]),
        # an overnight window: the same, 22:00-22:30 is cut
        (rule("22:00", "00:00", breaks=[("21:00", "22:30")]),
         ["2027-05-03T22:30+02:00", "2027-05-03T23:00+02:00", "2027-05-03T23:30+02:00"]),
    ],
)
def test_a_break_straddling_the_window_start_cuts_its_overlap(the_rule, expected):
    assert dated_starts(slots(spec(30), [the_rule], MONDAY)) == expected


def test_an_overnight_rule_ending_on_valid_to_still_runs_past_midnight():
    the_rule = rule("22:00", "02:00", weekdays={1, 2}, valid_to=MONDAY)
    found = slots(spec(60), [the_rule], MONDAY, "2027-05-04")
    assert dated_starts(found) == ["2027-05-03T22:00+02:00", "2027-05-03T23:00+02:00",
                                   "2027-05-04T00:00+02:00", "2027-05-04T01:00+02:00"]


TEMPLATE = rule("09:00", "11:00", weekdays=WORKDAYS)  # priority 0


@pytest.mark.parametrize(
    ("range_rule", "expected"),
    [
        # summer hours replace the weekly template on their days only
        (rule("14:00", "15:00", valid_from="2027-05-04", valid_to="2027-05-05", priority=1),
         ["2027-05-03T09:00+02:00", "2027-05-03T10:00+02:00", "2027-05-04T14:00+02:00",
          "2027-05-05T14:00+02:00", "2027-05-06T09:00+02:00", "2027-05-06T10:00+02:00"]),
        # a lower-priority range rule never counts while the template applies
        (rule("14:00", "15:00", valid_from="2027-05-04", valid_to="2027-05-05", priority=-1),
         ["2027-05-03T09:00+02:00", "2027-05-03T10:00+02:00", "2027-05-04T09:00+02:00",
          "2027-05-04T10:00+02:00", "2027-05-05T09:00+02:00", "2027-05-05T10:00+02:00",
          "2027-05-06T09:00+02:00", "2027-05-06T10:00+02:00"]),
        # equal priority: both rules count
        (rule("14:00", "15:00", valid_from="2027-05-04", valid_to="2027-05-04"),
         ["2027-05-03T09:00+02:00", "2027-05-03T10:00+02:00", "2027-05-04T09:00+02:00",
          "2027-05-04T10:00+02:00", "2027-05-04T14:00+02:00", "2027-05-05T09:00+02:00",
          "2027-05-05T10:00+02:00", "2027-05-06T09:00+02:00", "2027-05-06T10:00+02:00"]),
        # a higher-priority rule only replaces on the weekdays it names
        (rule("14:00", "15:00", weekdays={3}, valid_from="2027-05-03", valid_to="2027-05-06", priority=1),
         ["2027-05-03T09:00+02:00", "2027-05-03T10:00+02:00", "2027-05-04T09:00+02:00",
          "2027-05-04T10:00+02:00", "2027-05-05T14:00+02:00", "2027-05-06T09:00+02:00",
          "2027-05-06T10:00+02:00"]),
        # a higher-priority rule whose window is all break closes its day
        (rule("09:00", "10:00", breaks=[("09:00", "10:00")], valid_from="2027-05-04", valid_to="2027-05-04",
              priority=1),
         ["2027-05-03T09:00+02:00", "2027-05-03T10:00+02:00", "2027-05-05T09:00+02:00",
          "2027-05-05T10:00+02:00", "2027-05-06T09:00+02:00", "2027-05-06T10:00+02:00"]),
        # a higher-priority rule at another location still replaces the provider's template
        (rule("14:00", "15:00", location="loc-2", valid_from="2027-05-04", valid_to="2027-05-04", priority=1),
         ["2027-05-03T09:00+02:00", "2027-05-03T10:00+02:00", "2027-05-04T14:00+02:00",
          "2027-05-05T09:00+02:00", "2027-05-05T10:00+02:00", "2027-05-06T09:00+02:00",
          "2027-05-06T10:00+02:00"]),
    ],
)
def test_only_the_highest_priority_rules_of_a_date_count(range_rule, expected):
    found = slots(spec(60), [TEMPLATE, range_rule], "2027-05-03", "2027-05-06")
    assert dated_starts(found) == expected


FRIDAY_RULE = rule("09:00", "11:00", weekdays={5})  # the only weekly rule: Friday 2027-05-07
FRIDAY = [("2027-05-07T09:00+02:00", "2027-05-07"), ("2027-05-07T10:00+02:00", "2027-05-07")]


@pytest.mark.parametrize(
    ("windows", "expected"),
    [
        # an extra window adds slots on a Sunday that has no rule at all
        ([extra(at("2027-05-09", "10:00"), at("2027-05-09", "12:00"))],
         FRIDAY + [("2027-05-09T10:00+02:00", "2027-05-09"), ("2027-05-09T11:00+02:00", "2027-05-09")]),
        # an extra window limited to this type
        ([extra(at("2027-05-09", "10:00"), at("2027-05-09", "11:00"), appointment_type_id=TYPE)],
         FRIDAY + [("2027-05-09T10:00+02:00", "2027-05-09")]),
        # an extra window limited to another type adds nothing
        ([extra(at("2027-05-09", "10:00"), at("2027-05-09", "12:00"), appointment_type_id=OTHER_TYPE)], FRIDAY),
        # the grid starts at the extra window's start, off the hour
        ([extra(at("2027-05-09", "10:10"), at("2027-05-09", "11:20"))],
         FRIDAY + [("2027-05-09T10:10+02:00", "2027-05-09")]),
        # an extra window shorter than the visit
        ([extra(at("2027-05-09", "10:00"), at("2027-05-09", "10:59"))], FRIDAY),
        # on a working day it adds to the rule's window
        ([extra(at("2027-05-07", "14:00"), at("2027-05-07", "15:00"))],
         FRIDAY + [("2027-05-07T14:00+02:00", "2027-05-07")]),
        # overlapping the rule's window: no duplicate start
        ([extra(at("2027-05-07", "10:00"), at("2027-05-07", "12:00"))],
         FRIDAY + [("2027-05-07T11:00+02:00", "2027-05-07")]),
        # given as UTC instants: the provider-day is the local date in the window's zone
        ([extra(at("2027-05-08", "22:30", "UTC"), at("2027-05-09", "00:30", "UTC"))],
         FRIDAY + [("2027-05-09T00:30+02:00", "2027-05-09"), ("2027-05-09T01:30+02:00", "2027-05-09")]),
        # an extra window outside the queried dates
        ([extra(at("2027-05-10", "10:00"), at("2027-05-10", "12:00"))], FRIDAY),
    ],
)
def test_an_extra_available_window_adds_slots(windows, expected):
    found = slots(spec(60), [FRIDAY_RULE], "2027-05-07", "2027-05-09", extra_windows=windows)
    assert [(dated_starts([s])[0], s.local_date.isoformat()) for s in found] == expected


def test_overlapping_extra_windows_give_the_same_slots_in_any_order():
    evening = extra(at("2027-05-08", "23:00"), at("2027-05-09", "02:00"))  # Saturday's provider-day
    night = extra(at("2027-05-09", "01:00"), at("2027-05-09", "03:00"))  # Sunday's provider-day
    forward = slots(spec(60), [], "2027-05-08", "2027-05-09", extra_windows=[evening, night])
    backward = slots(spec(60), [], "2027-05-08", "2027-05-09", extra_windows=[night, evening])
    assert dated_starts(forward) == ["2027-05-08T23:00+02:00", "2027-05-09T00:00+02:00", "2027-05-09T01:00+02:00",
                                     "2027-05-09T02:00+02:00"]
    assert [(s.start, s.local_date) for s in backward] == [(s.start, s.local_date) for s in forward]


def test_output_is_sorted_by_start_then_location():
    rules = [rule("10:00", "11:00", location="loc-b"), rule("09:30", "11:00", location="loc-a"),
             rule("09:00", "11:00", location="loc-c")]
    found = slots(spec(30), rules, MONDAY)
    assert [(utc(s.start), s.location_id) for s in found] == [
        ("2027-05-03T07:00Z", "loc-c"),
        ("2027-05-03T07:30Z", "loc-a"),
        ("2027-05-03T07:30Z", "loc-c"),
        ("2027-05-03T08:00Z", "loc-a"),
        ("2027-05-03T08:00Z", "loc-b"),
        ("2027-05-03T08:00Z", "loc-c"),
        ("2027-05-03T08:30Z", "loc-a"),
        ("2027-05-03T08:30Z", "loc-b"),
        ("2027-05-03T08:30Z", "loc-c"),
    ]


@pytest.mark.parametrize(
    ("the_rule", "day", "expected"),
    [
        # a plain day
        (rule("09:00", "17:00"), date(2027, 5, 3), [("2027-05-03T07:00Z", "2027-05-03T15:00Z")]),
        # a weekday the rule does not name
        (rule("09:00", "17:00", weekdays={2}), date(2027, 5, 3), []),
        # breaks cut pieces out
        (rule("09:00", "17:00", breaks=[("12:00", "13:00")]), date(2027, 5, 3),
         [("2027-05-03T07:00Z", "2027-05-03T10:00Z"), ("2027-05-03T11:00Z", "2027-05-03T15:00Z")]),
        # overnight: the window ends on the next date
        (rule("22:00", "02:00"), date(2027, 5, 3), [("2027-05-03T20:00Z", "2027-05-04T00:00Z")]),
    ],
)
def test_rule_windows_gives_the_instants_of_one_local_date(the_rule, day, expected):
    assert [(utc(s), utc(e)) for s, e in rule_windows(the_rule, day)] == expected
