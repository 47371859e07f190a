"""The agenda grid's layout maths (app/queries/time_grid.py): which hour rows a day has, where
a thing sits (minute row) and how tall it is (minutes), DST days of 23 and 25 hours, a week
whose axis holds a DST day, multi-day time off drawn on every day, lanes and free gaps."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.queries.time_grid import (
    ColumnInput,
    Entry,
    Placed,
    Window,
    assign_lanes,
    day_hour_keys,
    free_gaps,
    layout,
    range_label,
    shown_hours,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
SANTIAGO = "America/Santiago"  # clocks change at midnight
UTC = timezone.utc


def local(day: str, hhmm: str, tz: str = BERLIN, fold: int = 0) -> datetime:
    """An instant from a local wall-clock time (fold=1: the second pass of a repeated hour)."""
    hours, minutes = map(int, hhmm.split(":"))
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=ZoneInfo(tz)).replace(
        hour=hours, minute=minutes, fold=fold).astimezone(UTC)


def visit(day: str, start: str, end: str, tz: str = BERLIN, before: int = 0, after: int = 0, **kw) -> Entry:
    s, e = local(day, start, tz), local(day, end, tz)
    return Entry("booking", s, e, kw.pop("title", "Paula"), status=kw.pop("status", "confirmed"),
                 block_start=s - timedelta(minutes=before), block_end=e + timedelta(minutes=after), **kw)


def column(day: str, *entries: Entry, windows=(), tz: str = BERLIN, bookable=None) -> ColumnInput:
    return ColumnInput(key=day, title=day, day=date.fromisoformat(day), entries=tuple(entries),
                       windows=tuple(windows), bookable=bookable)


def hours(day: str, start: str, end: str, tz: str = BERLIN, here: bool = True) -> Window:
    return Window(local(day, start, tz), local(day, end, tz), here=here)


def placed(grid, kind: str, col: int = 0) -> list[Placed]:
    return [p for p in grid.columns[col].placed if p.kind == kind]


NOON = datetime(2000, 1, 1, tzinfo=UTC)  # "now" long before every test day: no gap is in the past


# --- hour rows --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("tz", "day", "count", "around"),
    [
        (BERLIN, "2026-06-01", 24, [(1, 0), (2, 0), (3, 0)]),  # an ordinary day
        (BERLIN, "2026-03-29", 23, [(1, 0), (3, 0), (4, 0)]),  # spring forward: no 02:00
        (BERLIN, "2026-10-25", 25, [(2, 0), (2, 1), (3, 0)]),  # fall back: 02:00 twice
        (NEW_YORK, "2026-03-08", 23, [(1, 0), (3, 0), (4, 0)]),  # US spring forward at 02:00
        (NEW_YORK, "2026-11-01", 25, [(1, 0), (1, 1), (2, 0)]),  # US fall back: 01:00 twice
        (SANTIAGO, "2026-09-06", 23, [(1, 0), (2, 0), (3, 0)]),  # the day starts at 01:00: no 00:00
    ],
)
def test_a_day_has_the_hour_rows_its_clock_shows(tz, day, count, around):
    keys = day_hour_keys(date.fromisoformat(day), ZoneInfo(tz))

    assert len(keys) == count
    start = keys.index(around[0])
    assert list(keys[start:start + len(around)]) == around


def test_a_whole_23_hour_day_draws_23_hours_and_a_visit_at_its_local_time():
    day = "2026-03-29"  # Berlin springs forward at 02:00
    grid = layout([column(day, visit(day, "10:00", "10:45"))], BERLIN, NOON, hours=(0, 24))

    assert [h.label for h in grid.hours][:4] == ["00:00", "01:00", "03:00", "04:00"]
    assert grid.minutes == 23 * 60
    booking = placed(grid, "booking")[0]
    ten = next(h.row for h in grid.hours if h.label == "10:00")
    assert (booking.row, booking.span) == (ten, 45) == (9 * 60, 45)  # 9 real hours after midnight
    assert grid.columns[0].note == "Clocks go forward: a 23-hour day"


def test_a_whole_25_hour_day_draws_the_repeated_hour_twice_and_both_passes_apart():
    day = "2026-10-25"  # Berlin falls back at 03:00 to 02:00
    first = visit(day, "02:15", "02:45", title="first pass")
    second = Entry("booking", local(day, "02:15", fold=1), local(day, "02:45", fold=1), "second pass",
                   status="confirmed")
    grid = layout([column(day, first, second)], BERLIN, NOON, hours=(0, 24))

    labels = [h.label for h in grid.hours]
    assert grid.minutes == 25 * 60 and labels[2:4] == ["02:00", "02:00 (again)"]
    rows = {p.title: (p.row, p.span) for p in placed(grid, "booking")}
    assert rows == {"first pass": (2 * 60 + 15, 30), "second pass": (3 * 60 + 15, 30)}
    assert grid.columns[0].note == "Clocks go back: a 25-hour day"
    assert next(h.row for h in grid.hours if h.label == "10:00") == 11 * 60  # later hours move down one


def test_a_visit_across_the_spring_gap_keeps_its_real_length():
    day = "2026-03-29"
    start = local(day, "01:30")
    crossing = Entry("booking", start, start + timedelta(minutes=60), "across", status="confirmed")
    grid = layout([column(day, crossing)], BERLIN, NOON, hours=(0, 24))

    booking = placed(grid, "booking")[0]
    assert (booking.row, booking.span) == (90, 60)
    assert booking.times == "01:30–03:30"  # one real hour, two wall-clock hours


def test_a_week_with_a_dst_day_shares_one_axis_and_marks_the_missing_hour():
    monday = date(2026, 3, 23)  # Sunday the 29th springs forward
    days = [(monday + timedelta(days=i)).isoformat() for i in range(7)]
    grid = layout([column(d, visit(d, "10:00", "11:00")) for d in days], BERLIN, NOON, hours=(0, 24))

    assert grid.minutes == 24 * 60  # the union: the other days have 02:00
    rows = {c.key: placed(grid, "booking", i)[0].row for i, c in enumerate(grid.columns)}
    assert set(rows.values()) == {10 * 60}  # 10:00 sits at 10:00 on every day, the DST day too
    sunday = grid.columns[-1]
    assert [(p.row, p.span) for p in sunday.placed if p.kind == "nohour"] == [(120, 60)]
    assert all(not [p for p in c.placed if p.kind == "nohour"] for c in grid.columns[:-1])


def test_shown_hours_follow_the_working_day_and_the_visits_and_fall_back_to_office_hours():
    tz = ZoneInfo(BERLIN)
    day = date(2026, 6, 1)
    assert shown_hours([], tz) == (8, 18)
    assert shown_hours([(day, local("2026-06-01", "09:00"), local("2026-06-01", "17:00"))], tz) == (9, 17)
    # a late visit stretches the end; a short day still shows eight hours
    assert shown_hours([(day, local("2026-06-01", "12:00"), local("2026-06-01", "20:30"))], tz) == (12, 21)
    assert shown_hours([(day, local("2026-06-01", "10:00"), local("2026-06-01", "12:00"))], tz) == (10, 18)
    # something running past midnight ends the axis at 24:00
    assert shown_hours([(day, local("2026-06-01", "18:00"), local("2026-06-02", "02:00"))], tz) == (16, 24)


# --- placing ----------------------------------------------------------------------------------

def test_a_visit_sits_at_its_start_with_its_duration_and_its_buffers_beside_it():
    day = "2026-06-01"
    grid = layout([column(day, visit(day, "10:00", "10:45", before=5, after=10),
                          windows=[hours(day, "09:00", "17:00")])], BERLIN, NOON)

    assert (grid.first_hour, grid.last_hour) == (9, 17)
    booking = placed(grid, "booking")[0]
    assert (booking.row, booking.span, booking.times) == (60, 45, "10:00–10:45")
    assert sorted((p.row, p.span) for p in placed(grid, "buffer")) == [(55, 5), (105, 10)]
    assert [(p.row, p.span) for p in placed(grid, "hours")] == [(0, 480)]


def test_multi_day_time_off_is_drawn_on_every_day_it_covers_with_its_local_times():
    days = ["2026-12-21", "2026-12-22", "2026-12-23"]
    off = Entry("time_off", local(days[0], "14:00"), local(days[2], "12:00"), "Time off",
                range_label(local(days[0], "14:00"), local(days[2], "12:00"), ZoneInfo(BERLIN)), "approved")
    cols = [column(d, off, windows=[hours(d, "09:00", "17:00")]) for d in days]
    grid = layout(cols, BERLIN, NOON)

    drawn = [(p.row, p.span, p.times) for i in range(3) for p in placed(grid, "time_off", i)]
    assert drawn == [(5 * 60, 3 * 60, "from 14:00"), (0, 8 * 60, "All day"), (0, 3 * 60, "until 12:00")]
    assert placed(grid, "time_off", 1)[0].detail == "21–23 Dec"
    tz = ZoneInfo(BERLIN)
    assert range_label(local("2026-11-30", "08:00"), local("2026-12-02", "00:00"), tz) == "30 Nov–1 Dec"
    assert range_label(local("2026-11-30", "08:00"), local("2026-11-30", "12:00"), tz) == ""
    assert all(p.times != "00:00–00:00" for i in range(3) for p in grid.columns[i].placed)


def test_overlapping_visits_share_the_width_in_lanes_and_a_later_one_gets_it_all():
    day = "2026-06-01"
    grid = layout([column(day, visit(day, "10:00", "11:00", title="a"), visit(day, "10:30", "11:30", title="b"),
                          visit(day, "11:00", "11:30", title="c"), visit(day, "13:00", "14:00", title="d"))],
                  BERLIN, NOON)

    lanes = {p.title: (p.lane, p.lanes) for p in placed(grid, "booking")}
    assert lanes == {"a": (0, 2), "b": (1, 2), "c": (0, 2), "d": (0, 1)}


def test_assign_lanes_uses_the_span_with_buffers():
    items = [Placed("booking", 0, 30, NOON, NOON, title="x"), Placed("booking", 35, 30, NOON, NOON, title="y")]
    # x's buffer runs to row 40, so y (from 35) overlaps it
    laned = assign_lanes(items, [(0, 40), (35, 65)])
    assert [(p.lane, p.lanes) for p in laned] == [(0, 2), (1, 2)]


def test_free_gaps_are_working_time_here_minus_visits_buffers_blocks_and_time_off_and_the_past():
    day = "2026-06-01"
    windows = [hours(day, "09:00", "12:00"), hours(day, "13:00", "17:00"),
               hours(day, "17:00", "19:00", here=False)]  # at another location: not bookable here
    taken = [visit(day, "10:00", "10:45", before=5, after=10),
             Entry("blocked", local(day, "15:00"), local(day, "16:00")),
             Entry("time_off_pending", local(day, "13:00"), local(day, "14:00")),  # not approved: still free
             Entry("booking", local(day, "16:50"), local(day, "17:00"))]  # leaves 16:00-16:50

    gaps = free_gaps(windows, taken, not_before=local(day, "09:16") + timedelta(seconds=30))  # rounds up to 09:20

    assert [(g[0].astimezone(ZoneInfo(BERLIN)).strftime("%H:%M"), g[1].astimezone(ZoneInfo(BERLIN)).strftime("%H:%M"))
            for g in gaps] == [("09:20", "09:55"), ("10:55", "12:00"), ("13:00", "15:00"), ("16:00", "16:50")]


def test_free_gaps_are_placed_only_for_bookable_columns():
    day = "2026-06-01"
    plain = layout([column(day, windows=[hours(day, "09:00", "17:00")])], BERLIN, NOON)
    bookable = layout([column(day, windows=[hours(day, "09:00", "17:00")], bookable=("p", "l"))], BERLIN, NOON)

    assert placed(plain, "free") == []
    assert [(p.row, p.span, p.times) for p in placed(bookable, "free")] == [(0, 480, "09:00–17:00")]


def test_the_now_line_sits_at_the_current_minute_only_on_its_day():
    day = "2026-06-01"
    now = local(day, "11:37")
    grid = layout([column(day, windows=[hours(day, "09:00", "17:00")]),
                   column("2026-06-02", windows=[hours("2026-06-02", "09:00", "17:00")])], BERLIN, now)

    assert [c.now_row for c in grid.columns] == [2 * 60 + 37, None]
    starts = dict(grid.columns[0].hour_starts)
    assert starts[int(local(day, "11:00").timestamp() * 1000)] == 120  # the browser moves the line from here


def test_things_outside_the_shown_hours_are_clipped_and_say_so():
    day = "2026-06-01"
    night = Entry("busy", local(day, "06:00"), local(day, "10:00"), "Busy")
    grid = layout([column(day, night, windows=[hours(day, "09:00", "17:00")])], BERLIN, NOON)

    busy = placed(grid, "busy")[0]
    assert (busy.row, busy.span, busy.cut_before, busy.cut_after) == (0, 60, True, False)
    assert busy.times == "06:00–10:00"  # the label keeps its real times
