"""Buffers, blocked time, occupancy, capacity and seats, notice and horizon.

All in Europe/Berlin during summer time (+02:00); 2027-05-03 is a Monday.
Bookings' start/end already include their own type's buffers.
"""
from __future__ import annotations

from datetime import datetime

import pytest

from tests.unit.engine_builders import (
    NOW,
    OTHER_TYPE,
    TYPE,
    at,
    blocked,
    booking,
    busy,
    dated_starts,
    minutes,
    places,
    rule,
    slots,
    spec,
    starts,
)

DAY = "2027-05-03"
NEXT = "2027-05-04"
PREVIOUS = "2027-05-02"


def on(wall_start: str, wall_end: str, day: str = DAY) -> tuple[datetime, datetime]:
    return at(day, wall_start), at(day, wall_end)


@pytest.mark.parametrize(
    ("the_rule", "the_spec", "occupied", "expected"),
    [
        # buffer before at the day's first slot: a booking ending 08:50 is inside 09:00's 15-minute buffer
        (rule("09:00", "12:00"), spec(60, buffer_before_minutes=15), [booking(*on("08:00", "08:50"))],
         ["10:00+02:00", "11:00+02:00"]),
        # ... ending 08:45 only touches it: fine
        (rule("09:00", "12:00"), spec(60, buffer_before_minutes=15), [booking(*on("08:00", "08:45"))],
         ["09:00+02:00", "10:00+02:00", "11:00+02:00"]),
        # buffer after at the day's last slot: a booking from 12:10 is inside 11:00's buffer
        (rule("09:00", "12:00"), spec(60, buffer_after_minutes=15), [booking(*on("12:10", "13:00"))],
         ["09:00+02:00", "10:00+02:00"]),
        # ... from 12:15 it touches
        (rule("09:00", "12:00"), spec(60, buffer_after_minutes=15), [booking(*on("12:15", "13:00"))],
         ["09:00+02:00", "10:00+02:00", "11:00+02:00"]),
        # buffer after at midnight: 23:00's buffer reaches 00:30 the next day, where a booking starts 00:15
        (rule("22:00", "00:00"), spec(60, buffer_after_minutes=30), [booking(*on("00:15", "01:00", NEXT))],
         ["22:00+02:00"]),
        # ... a next-day booking starting 00:30 only touches it
        (rule("22:00", "00:00"), spec(60, buffer_after_minutes=30), [booking(*on("00:30", "01:00", NEXT))],
         ["22:00+02:00", "23:00+02:00"]),
        # buffer before at midnight: 00:00's buffer reaches back to 23:30 of the day before
        (rule("00:00", "02:00"), spec(60, buffer_before_minutes=30), [booking(*on("23:00", "23:45", PREVIOUS))],
         ["01:00+02:00"]),
        # ... a booking ending 23:30 the day before touches it
        (rule("00:00", "02:00"), spec(60, buffer_before_minutes=30), [booking(*on("23:00", "23:30", PREVIOUS))],
         ["00:00+02:00", "01:00+02:00"]),
        # buffers may reach outside working hours when nothing is there
        (rule("09:00", "10:00"), spec(60, buffer_before_minutes=30, buffer_after_minutes=30), [], ["09:00+02:00"]),
        # candidate slots' buffers overlapping each other do not matter
        (rule("09:00", "11:00"), spec(60, buffer_before_minutes=20, buffer_after_minutes=20), [],
         ["09:00+02:00", "10:00+02:00"]),
        # a booking between two slots reaches both through the buffers
        (rule("09:00", "12:00"), spec(50, slot_interval_minutes=60, buffer_before_minutes=10,
                                      buffer_after_minutes=10), [booking(*on("10:55", "11:05"))],
         ["09:00+02:00"]),
    ],
)
def test_a_slot_needs_its_visit_and_its_buffers_free(the_rule, the_spec, occupied, expected):
    assert starts(slots(the_spec, [the_rule], DAY, occupancy=occupied)) == expected


@pytest.mark.parametrize(
    ("the_spec", "blocks", "expected"),
    [
        # blocked time removes exactly the overlapping slots, the buffer after included
        (spec(30, buffer_after_minutes=15), [blocked(*on("11:00", "11:15"))],
         ["09:00+02:00", "09:30+02:00", "10:00+02:00", "11:30+02:00"]),
        # the buffer before included
        (spec(30, buffer_before_minutes=15), [blocked(*on("08:30", "09:00"))],
         ["09:30+02:00", "10:00+02:00", "10:30+02:00", "11:00+02:00", "11:30+02:00"]),
        # touching a blocked interval on both sides is fine
        (spec(60), [blocked(*on("10:00", "11:00"))], ["09:00+02:00", "11:00+02:00"]),
        # a one-minute block kills one slot
        (spec(60), [blocked(*on("10:59", "11:00"))], ["09:00+02:00", "11:00+02:00"]),
        # limited to this type: removes
        (spec(60), [blocked(*on("10:00", "11:00"), appointment_type_id=TYPE)], ["09:00+02:00", "11:00+02:00"]),
        # limited to another type: removes nothing
        (spec(60), [blocked(*on("09:00", "12:00"), appointment_type_id=OTHER_TYPE)],
         ["09:00+02:00", "10:00+02:00", "11:00+02:00"]),
        # limited to this location: removes
        (spec(60), [blocked(*on("09:00", "10:00"), location_id="loc-1")], ["10:00+02:00", "11:00+02:00"]),
        # limited to another location: removes nothing
        (spec(60), [blocked(*on("09:00", "12:00"), location_id="loc-2")],
         ["09:00+02:00", "10:00+02:00", "11:00+02:00"]),
        # approved time off for the whole day
        (spec(60), [blocked(at(DAY, "00:00"), at(NEXT, "00:00"))], []),
        # time off given in another zone is the same instants
        (spec(60), [blocked(at(DAY, "08:00", "UTC"), at(DAY, "09:00", "UTC"))], ["09:00+02:00", "11:00+02:00"]),
    ],
)
def test_blocked_time_removes_exactly_the_overlapping_slots(the_spec, blocks, expected):
    assert starts(slots(the_spec, [rule("09:00", "12:00")], DAY, blocked=blocks)) == expected


LATER = NOW + minutes(5)


@pytest.mark.parametrize(
    ("occupied", "expected"),
    [
        # a confirmed booking occupies
        ([booking(*on("10:00", "11:00"))], ["09:00+02:00", "11:00+02:00"]),
        # a pending booking occupies
        ([booking(*on("10:00", "11:00"), status="pending")], ["09:00+02:00", "11:00+02:00"]),
        # a hold occupies until it expires
        ([booking(*on("10:00", "11:00"), status="held", expires_at=LATER)], ["09:00+02:00", "11:00+02:00"]),
        # a hold without an expiry occupies
        ([booking(*on("10:00", "11:00"), status="held")], ["09:00+02:00", "11:00+02:00"]),
        # a hold expiring exactly now is free
        ([booking(*on("10:00", "11:00"), status="held", expires_at=NOW)],
         ["09:00+02:00", "10:00+02:00", "11:00+02:00"]),
        # an expired hold never blocks, whether or not cleanup has run
        ([booking(*on("10:00", "11:00"), status="held", expires_at=NOW - minutes(1))],
         ["09:00+02:00", "10:00+02:00", "11:00+02:00"]),
        # cancelled bookings never occupy
        ([booking(*on("10:00", "11:00"), status="cancelled")], ["09:00+02:00", "10:00+02:00", "11:00+02:00"]),
        # declined bookings never occupy
        ([booking(*on("10:00", "11:00"), status="declined")], ["09:00+02:00", "10:00+02:00", "11:00+02:00"]),
        # expired bookings never occupy, even with a future expires_at
        ([booking(*on("10:00", "11:00"), status="expired", expires_at=LATER)],
         ["09:00+02:00", "10:00+02:00", "11:00+02:00"]),
        # a booking of another type occupies the provider all the same
        ([booking(*on("10:30", "10:45"), type_id=OTHER_TYPE)], ["09:00+02:00", "11:00+02:00"]),
        # external busy time blocks
        ([busy(*on("10:15", "10:30"))], ["09:00+02:00", "11:00+02:00"]),
        # touching bookings on both sides
        ([booking(*on("08:00", "09:00")), booking(*on("12:00", "13:00"))],
         ["09:00+02:00", "10:00+02:00", "11:00+02:00"]),
        # a booking on another day does nothing
        ([booking(*on("10:00", "11:00", NEXT))], ["09:00+02:00", "10:00+02:00", "11:00+02:00"]),
    ],
)
def test_live_bookings_and_unexpired_holds_occupy(occupied, expected):
    assert starts(slots(spec(60), [rule("09:00", "12:00")], DAY, occupancy=occupied)) == expected


@pytest.mark.parametrize(
    ("parallel", "occupied", "expected"),
    [
        # external busy time blocks completely, even with three parallel places
        (3, [busy(*on("10:15", "10:30"))],
         [("09:00+02:00", 3, 3, 0, 0, "open"), ("10:00+02:00", 3, 0, 0, 0, "blocked"),
          ("11:00+02:00", 3, 3, 0, 0, "open")]),
        # an external busy time next to a booking: blocked wins
        (2, [busy(*on("10:00", "10:05")), booking(*on("10:00", "11:00"))],
         [("09:00+02:00", 2, 2, 0, 0, "open"), ("10:00+02:00", 2, 0, 0, 0, "blocked"),
          ("11:00+02:00", 2, 2, 0, 0, "open")]),
    ],
)
def test_external_busy_time_blocks_completely(parallel, occupied, expected):
    found = slots(spec(60), [rule("09:00", "12:00", parallel_sessions=parallel)], DAY, occupancy=occupied,
                  include_unavailable=True)
    assert places(found) == expected


TEN = on("10:00", "11:00")


@pytest.mark.parametrize(
    ("parallel", "room_capacity", "occupied", "expected"),
    [
        # one place, free
        (1, None, [], ("10:00+02:00", 1, 1, 0, 0, "open")),
        # one place, taken
        (1, None, [booking(*TEN)], ("10:00+02:00", 1, 0, 1, 0, "full")),
        # two parallel sessions, free
        (2, None, [], ("10:00+02:00", 2, 2, 0, 0, "open")),
        # two parallel sessions, one booking: partial
        (2, None, [booking(*TEN)], ("10:00+02:00", 2, 1, 1, 0, "partial")),
        # two parallel sessions, one hold: partial, counted as held
        (2, None, [booking(*TEN, status="held", expires_at=LATER)], ("10:00+02:00", 2, 1, 0, 1, "partial")),
        # two parallel sessions, an expired hold: counted nowhere
        (2, None, [booking(*TEN, status="held", expires_at=NOW)], ("10:00+02:00", 2, 2, 0, 0, "open")),
        # two parallel sessions, two overlapping bookings of other starts: full
        (2, None, [booking(*on("09:30", "10:30")), booking(*on("10:30", "11:30"), type_id=OTHER_TYPE)],
         ("10:00+02:00", 2, 0, 2, 0, "full")),
        # two one-to-one bookings at the same start are two sessions: full
        (2, None, [booking(*TEN), booking(*TEN)], ("10:00+02:00", 2, 0, 2, 0, "full")),
        # ... also when one of them is a hold
        (2, None, [booking(*TEN), booking(*TEN, status="held", expires_at=LATER)], ("10:00+02:00", 2, 0, 1, 1, "full")),
        # one-to-one bookings of another type at the same start are sessions of their own too
        (3, None, [booking(*TEN, type_id=OTHER_TYPE) for _ in range(2)], ("10:00+02:00", 3, 1, 2, 0, "partial")),
        # a group session of another type (three people) uses one place of the provider's time
        (2, None, [booking(*TEN, type_id=OTHER_TYPE, group=True) for _ in range(3)],
         ("10:00+02:00", 2, 1, 3, 0, "partial")),
        # two group sessions of another type at different starts use two places
        (2, None, [booking(*on("09:30", "10:30"), type_id=OTHER_TYPE, group=True),
                   booking(*on("10:30", "11:30"), type_id=OTHER_TYPE, group=True)],
         ("10:00+02:00", 2, 0, 2, 0, "full")),
        # the room's capacity caps the parallel sessions
        (3, 2, [], ("10:00+02:00", 2, 2, 0, 0, "open")),
        # ... and one booking leaves one place in the room
        (3, 2, [booking(*TEN)], ("10:00+02:00", 2, 1, 1, 0, "partial")),
        # a room bigger than the parallel sessions changes nothing
        (2, 10, [], ("10:00+02:00", 2, 2, 0, 0, "open")),
    ],
)
def test_one_to_one_capacity_is_parallel_sessions_capped_by_the_room(parallel, room_capacity, occupied, expected):
    room = "room-1" if room_capacity is not None else None
    found = slots(spec(60), [rule("10:00", "11:00", parallel_sessions=parallel, room_id=room)], DAY,
                  occupancy=occupied, room_capacities={room: room_capacity} if room else None,
                  include_unavailable=True)
    assert places(found) == [expected]


GROUP = spec(60, seats=5)


def seats_taken(n: int, status: str = "confirmed", start: str = "10:00", type_id: str = TYPE) -> list:
    visit_start = at(DAY, start)
    return [booking(visit_start, visit_start + minutes(60), status=status, type_id=type_id, expires_at=LATER,
                    group=True) for _ in range(n)]


@pytest.mark.parametrize(
    ("parallel", "room_capacity", "occupied", "expected"),
    [
        # an empty group session: every seat left
        (1, None, [], [("10:00+02:00", 5, 5, 0, 0, "open"), ("11:00+02:00", 5, 5, 0, 0, "open")]),
        # three booked at the 10:00 session: two seats left; the 11:00 session untouched
        (1, None, seats_taken(3),
         [("10:00+02:00", 5, 2, 3, 0, "partial"), ("11:00+02:00", 5, 5, 0, 0, "open")]),
        # two booked and one held: held seats are counted apart
        (1, None, seats_taken(2) + seats_taken(1, "held"),
         [("10:00+02:00", 5, 2, 2, 1, "partial"), ("11:00+02:00", 5, 5, 0, 0, "open")]),
        # five booked: full
        (1, None, seats_taken(5),
         [("10:00+02:00", 5, 0, 5, 0, "full"), ("11:00+02:00", 5, 5, 0, 0, "open")]),
        # cancelled seats are free again
        (1, None, seats_taken(5, "cancelled"),
         [("10:00+02:00", 5, 5, 0, 0, "open"), ("11:00+02:00", 5, 5, 0, 0, "open")]),
        # another type's booking overlapping the session: no provider time left with one parallel session
        (1, None, seats_taken(1, type_id=OTHER_TYPE, start="10:30"),
         [("10:00+02:00", 5, 0, 0, 0, "full"), ("11:00+02:00", 5, 0, 0, 0, "full")]),
        # ... with two parallel sessions the group session still runs with every seat
        (2, None, seats_taken(1, type_id=OTHER_TYPE, start="10:30"),
         [("10:00+02:00", 5, 5, 0, 0, "open"), ("11:00+02:00", 5, 5, 0, 0, "open")]),
        # a session of this type at another overlapping start is another session
        (1, None, seats_taken(2, start="10:30"),
         [("10:00+02:00", 5, 0, 0, 0, "full"), ("11:00+02:00", 5, 0, 0, 0, "full")]),
        # ... and its two people use one place of the provider's time, so with two the session runs
        (2, None, seats_taken(2, start="10:30"),
         [("10:00+02:00", 5, 5, 0, 0, "open"), ("11:00+02:00", 5, 5, 0, 0, "open")]),
        # the room's capacity caps the seats
        (1, 3, seats_taken(1), [("10:00+02:00", 3, 2, 1, 0, "partial"), ("11:00+02:00", 3, 3, 0, 0, "open")]),
    ],
)
def test_group_bookings_at_the_same_start_take_seats_of_one_session(parallel, room_capacity, occupied, expected):
    room = "room-1" if room_capacity is not None else None
    found = slots(GROUP, [rule("10:00", "12:00", parallel_sessions=parallel, room_id=room)], DAY,
                  occupancy=occupied, room_capacities={room: room_capacity} if room else None,
                  include_unavailable=True)
    assert places(found) == expected


NARROW = rule("10:00", "12:00", parallel_sessions=1)
WIDE = rule("10:00", "12:00", parallel_sessions=2)


@pytest.mark.parametrize(
    ("rules", "include_unavailable"),
    [
        # one parallel session, then two: the bookable answer
        ([NARROW, WIDE], False),
        # two parallel sessions, then one: the bookable answer
        ([WIDE, NARROW], False),
        # two, then one, with every position: the same answer
        ([WIDE, NARROW], True),
        # one, then two, with every position: the bookable window wins, whatever the order
        ([NARROW, WIDE], True),
    ],
)
def test_a_group_session_under_two_rules_has_one_answer_whatever_the_order(rules, include_unavailable):
    another_type = booking(*on("10:30", "11:00"), type_id=OTHER_TYPE)
    found = slots(spec(60, seats=3), rules, DAY, occupancy=[another_type], include_unavailable=include_unavailable)
    assert places(found) == [("10:00+02:00", 3, 3, 0, 0, "open"), ("11:00+02:00", 3, 3, 0, 0, "open")]


def test_a_full_group_session_is_returned_only_with_include_unavailable():
    rules = [rule("10:00", "12:00")]
    assert starts(slots(GROUP, rules, DAY, occupancy=seats_taken(5))) == ["11:00+02:00"]
    assert places(slots(GROUP, rules, DAY, occupancy=seats_taken(5), include_unavailable=True))[0] == (
        "10:00+02:00", 5, 0, 5, 0, "full")


@pytest.mark.parametrize(
    ("include_unavailable", "expected"),
    [
        # every grid position with its status
        (True, [("09:00+02:00", 2, 2, 0, 0, "open"), ("10:00+02:00", 2, 1, 1, 0, "partial"),
                ("11:00+02:00", 2, 0, 2, 0, "full"), ("12:00+02:00", 2, 0, 0, 0, "blocked"),
                ("13:00+02:00", 2, 0, 0, 0, "blocked")]),
        # only what can be booked: capacity_left >= 1
        (False, [("09:00+02:00", 2, 2, 0, 0, "open"), ("10:00+02:00", 2, 1, 1, 0, "partial")]),
    ],
)
def test_include_unavailable_adds_full_and_blocked_positions(include_unavailable, expected):
    occupied = [booking(*on("10:00", "11:00")), booking(*on("11:00", "12:00")),
                booking(*on("11:00", "12:00"), type_id=OTHER_TYPE), busy(*on("13:30", "13:45"))]
    found = slots(spec(60), [rule("09:00", "14:00", parallel_sessions=2)], DAY, occupancy=occupied,
                  blocked=[blocked(*on("12:00", "12:30"))], include_unavailable=include_unavailable)
    assert places(found) == expected


@pytest.mark.parametrize(
    ("now", "the_spec", "days", "expected"),
    [
        # min notice cuts into today: 10:07 + 120 minutes is 12:07, so 12:30 on a 30-minute grid
        (at(DAY, "10:07"), spec(30, min_notice_minutes=120), (DAY, DAY),
         ["2027-05-03T12:30+02:00", "2027-05-03T13:00+02:00", "2027-05-03T13:30+02:00"]),
        # a slot exactly at now + min notice is offered
        (at(DAY, "10:00"), spec(30, min_notice_minutes=120), (DAY, DAY),
         ["2027-05-03T12:00+02:00", "2027-05-03T12:30+02:00", "2027-05-03T13:00+02:00",
          "2027-05-03T13:30+02:00"]),
        # no notice: a slot that has already started is not offered
        (at(DAY, "10:07"), spec(60), (DAY, DAY), ["2027-05-03T11:00+02:00", "2027-05-03T12:00+02:00",
                                                   "2027-05-03T13:00+02:00"]),
        # a day's notice pushes into tomorrow
        (at(DAY, "11:00"), spec(60, min_notice_minutes=24 * 60), (DAY, NEXT),
         ["2027-05-04T11:00+02:00", "2027-05-04T12:00+02:00", "2027-05-04T13:00+02:00"]),
        # max_future_days cuts the end: now + 2 days is 2027-05-05 10:07
        (at(DAY, "10:07"), spec(60, max_future_days=2), (DAY, "2027-05-07"),
         ["2027-05-03T11:00+02:00", "2027-05-03T12:00+02:00", "2027-05-03T13:00+02:00",
          "2027-05-04T09:00+02:00", "2027-05-04T10:00+02:00", "2027-05-04T11:00+02:00",
          "2027-05-04T12:00+02:00", "2027-05-04T13:00+02:00", "2027-05-05T09:00+02:00",
          "2027-05-05T10:00+02:00"]),
        # a slot exactly at now + max_future_days is offered
        (at(DAY, "10:00"), spec(60, max_future_days=1), (DAY, NEXT),
         ["2027-05-03T10:00+02:00", "2027-05-03T11:00+02:00", "2027-05-03T12:00+02:00",
          "2027-05-03T13:00+02:00", "2027-05-04T09:00+02:00", "2027-05-04T10:00+02:00"]),
        # max_future_days 0: only a slot starting right now
        (at(DAY, "11:00"), spec(60, max_future_days=0), (DAY, NEXT), ["2027-05-03T11:00+02:00"]),
        # notice beyond the horizon leaves nothing
        (at(DAY, "09:00"), spec(60, min_notice_minutes=3 * 24 * 60, max_future_days=2), (DAY, "2027-05-07"), []),
        # a query for a day in the past
        (at(NEXT, "09:00"), spec(60), (DAY, DAY), []),
    ],
)
def test_notice_and_horizon_bound_the_slot_starts(now, the_spec, days, expected):
    found = slots(the_spec, [rule("09:00", "14:00")], *days, now=now)
    assert dated_starts(found) == expected


def test_notice_and_horizon_also_bound_unavailable_positions():
    # now + notice and now + horizon are both 09:00: only that position, though it is full
    found = slots(spec(60, min_notice_minutes=24 * 60, max_future_days=1), [rule("09:00", "14:00")], DAY,
                  now=at(PREVIOUS, "09:00"), include_unavailable=True, occupancy=[booking(*on("09:00", "10:00"))])
    assert places(found) == [("09:00+02:00", 1, 0, 1, 0, "full")]
