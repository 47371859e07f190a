"""The optimised engine returns exactly what the engine did before it was optimised.

tests/unit/engine_reference.py is a frozen copy of the engine (and its wall-clock
helpers) from before the performance work (docs/engine-performance.md). These
differential tests run both on the same random inputs and compare every field of
every slot, in order, down to each datetime's repr (tzinfo and fold included):
rules with breaks (inside and outside the window, across midnight), priorities and
validity, zones with DST gaps, repeated hours, half-hour shifts, midnight shifts and
a skipped day, extra windows, blocked time, bookings with buffers, holds and their
expiry, group sessions, rooms with capacities, other providers' room bookings,
external busy times, minimum notice, the horizon and include_unavailable.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.scheduling import engine, wallclock
from app.scheduling.types import AppointmentSpec, AvailableWindow, BlockedInterval, Occupancy, Slot, WeeklyRule
from tests.unit import engine_reference as reference

UTC = timezone.utc
TYPE, OTHER_TYPE = "consult", "other"
ZONES = [
    "Europe/Berlin",
    "Europe/London",
    "Europe/Dublin",  # negative DST in tzdata
    "America/New_York",
    "America/Santiago",  # shifts at midnight
    "America/St_Johns",  # -03:30 / -02:30
    "Australia/Lord_Howe",  # shifts by 30 minutes
    "Asia/Kathmandu",  # +05:45
    "Pacific/Apia",  # skipped 2011-12-30 entirely
    "UTC",
]
FIRST_DAYS = [
    date(2027, 3, 13),  # New York springs forward on the 14th
    date(2027, 3, 27),  # Europe springs forward on the 28th
    date(2027, 4, 3),  # Santiago (midnight) and Lord Howe fall back
    date(2027, 9, 4),  # Santiago springs forward at midnight
    date(2027, 10, 2),  # Lord Howe springs forward by 30 minutes
    date(2027, 10, 30),  # Europe falls back on the 31st
    date(2027, 11, 6),  # New York falls back on the 7th
    date(2011, 12, 28),  # Apia jumps from the 29th to the 31st
    date(2027, 6, 14),  # no transition anywhere
]
GRID = 5  # minutes
STEPS_PER_DAY = 24 * 60 // GRID
ROOMS = [None, None, "R1", "R2"]


@dataclass
class Inputs:
    spec: AppointmentSpec
    rules: list[WeeklyRule]
    first_day: date
    last_day: date
    now: datetime
    extra_windows: list[AvailableWindow] = field(default_factory=list)
    blocked: list[BlockedInterval] = field(default_factory=list)
    occupancy: list[Occupancy] = field(default_factory=list)
    room_capacities: dict | None = None
    include_unavailable: bool = False

    def kwargs(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def wall(step: int) -> time:
    step %= STEPS_PER_DAY
    return time(step * GRID // 60, step * GRID % 60)


def exact(found: list[Slot]) -> list[tuple]:
    """Everything about each slot: its type, every field's value and repr (a datetime's repr shows
    its tzinfo and fold)."""
    return [(type(s), list(vars(s)), vars(s), repr(s), s.start.tzinfo, s.end.tzinfo) for s in found]


def assert_same_slots(inputs: Inputs) -> list[Slot]:
    new = engine.compute_slots(**inputs.kwargs())
    old = reference.compute_slots(**inputs.kwargs())
    assert exact(new) == exact(old)
    return new


@st.composite
def weekly_rules(draw, first_day: date) -> WeeklyRule:
    start = draw(st.integers(0, STEPS_PER_DAY - 1))
    length = draw(st.integers(1, STEPS_PER_DAY))  # end <= start when it crosses midnight
    breaks = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):  # inside the window
            offset = draw(st.integers(0, length - 1))
            size = draw(st.integers(1, length - offset))
            breaks.append((wall(start + offset), wall(start + offset + size)))
        else:  # anywhere, possibly crossing midnight or empty
            breaks.append((wall(draw(st.integers(0, STEPS_PER_DAY))), wall(draw(st.integers(0, STEPS_PER_DAY)))))
    valid = st.one_of(st.none(), st.none(), st.integers(-1, 3).map(lambda n: first_day + timedelta(days=n)))
    return WeeklyRule(
        weekdays=draw(st.one_of(st.just(frozenset(range(1, 8))), st.frozensets(st.integers(1, 7), min_size=1))),
        start=wall(start),
        end=wall(start + length),
        timezone=draw(st.sampled_from(ZONES)),
        location_id=draw(st.sampled_from(["A", "B"])),
        room_id=draw(st.sampled_from(ROOMS)),
        valid_from=draw(valid),
        valid_to=draw(valid),
        parallel_sessions=draw(st.integers(1, 3)),
        breaks=tuple(breaks),
        priority=draw(st.sampled_from([0, 0, 0, 1])),
    )


@st.composite
def inputs(draw) -> Inputs:
    first_day = draw(st.sampled_from(FIRST_DAYS)) + timedelta(days=draw(st.integers(0, 1)))
    last_day = first_day + timedelta(days=draw(st.integers(0, 3)))
    base = datetime.combine(first_day - timedelta(days=1), time(0), tzinfo=UTC)
    steps = ((last_day - first_day).days + 4) * STEPS_PER_DAY

    def shown(instant: datetime) -> datetime:
        """The same instant, sometimes off the minute grid, in UTC or in some zone's local time."""
        instant += draw(st.sampled_from([timedelta(0)] * 4 + [timedelta(microseconds=1), timedelta(seconds=37),
                                                              timedelta(seconds=-1, microseconds=250)]))
        tz = draw(st.sampled_from([None, None, *ZONES]))
        return instant if tz is None else instant.astimezone(ZoneInfo(tz))

    def instant(step: int) -> datetime:
        return base + timedelta(minutes=GRID * step)

    spec = AppointmentSpec(
        id=TYPE,
        duration_minutes=draw(st.sampled_from([5, 7, 15, 20, 30, 45, 60, 90, 120])),
        buffer_before_minutes=draw(st.sampled_from([0, 0, 5, 10, 15, 30])),
        buffer_after_minutes=draw(st.sampled_from([0, 0, 5, 10, 15, 30])),
        slot_interval_minutes=draw(st.sampled_from([None, None, 5, 7, 10, 15, 30, 60])),
        seats=draw(st.sampled_from([1, 1, 1, 2, 5])),
        min_notice_minutes=draw(st.sampled_from([0, 0, 0, 5, 13, 60, 125, 1440])),
        max_future_days=draw(st.sampled_from([0, 1, 2, 3, 30, 30, 30, 30, 30, 30])),
        default_room_id=draw(st.sampled_from(ROOMS)),
    )
    now = shown(instant(draw(st.one_of(st.integers(-STEPS_PER_DAY, 0), st.integers(0, steps // 2)))))
    rules = draw(st.lists(weekly_rules(first_day), min_size=draw(st.sampled_from([0, 1, 1, 1])), max_size=3))

    windows = [w for r in rules for n in range((last_day - first_day).days + 1)
               for w in reference.rule_windows(r, first_day + timedelta(days=n))]
    grid = timedelta(minutes=spec.interval_minutes)

    def on_a_slot() -> datetime:
        """A random instant, or one on the grid of a working window (where it makes a difference)."""
        if not windows or draw(st.integers(0, 2)) == 0:
            return instant(draw(st.integers(0, steps)))
        start, end = draw(st.sampled_from(windows))
        return start + grid * draw(st.integers(0, max(0, (end - start) // grid)))

    def interval(max_length: int) -> tuple[datetime, datetime]:
        start = on_a_slot() - timedelta(minutes=GRID * draw(st.integers(0, 3)))
        return shown(start), shown(start + timedelta(minutes=GRID * draw(st.integers(0, max_length))))

    extra_windows = []
    for _ in range(draw(st.integers(0, 3))):
        start, end = interval(STEPS_PER_DAY // 4)
        extra_windows.append(AvailableWindow(
            start=start, end=end, location_id=draw(st.sampled_from(["A", "B"])),
            timezone=draw(st.sampled_from(ZONES)), room_id=draw(st.sampled_from(ROOMS)),
            appointment_type_id=draw(st.sampled_from([None, TYPE, OTHER_TYPE])),
            parallel_sessions=draw(st.integers(1, 3))))

    blocked = []
    for _ in range(draw(st.integers(0, 3))):
        start, end = interval(STEPS_PER_DAY // 8)
        blocked.append(BlockedInterval(start=start, end=end,
                                       appointment_type_id=draw(st.sampled_from([None, TYPE, OTHER_TYPE])),
                                       location_id=draw(st.sampled_from([None, "A", "B"]))))

    group = {TYPE: spec.seats > 1, OTHER_TYPE: draw(st.booleans())}
    occupancy = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 5)) == 0:
            occupancy.append(Occupancy(*interval(36), external=True))
            continue
        session_start = on_a_slot()
        start = session_start - timedelta(minutes=GRID * draw(st.integers(0, 6)))
        end = session_start + timedelta(minutes=GRID * draw(st.integers(1, 30)))
        expires = draw(st.one_of(st.none(), st.integers(-6, 6).map(lambda n: now + timedelta(minutes=GRID * n))))
        status = draw(st.sampled_from(["confirmed", "confirmed", "pending", "held", "cancelled", "expired"]))
        type_id = draw(st.sampled_from([TYPE, OTHER_TYPE]))
        room_id = draw(st.sampled_from(ROOMS))
        room_only = room_id is not None and draw(st.integers(0, 2)) == 0
        no_session = draw(st.integers(0, 9)) == 0
        for _ in range(draw(st.integers(1, 3))):  # several people in one session
            item = Occupancy(start=shown(start), end=shown(end), appointment_type_id=type_id, group=group[type_id],
                             session_start=None if no_session else shown(session_start), status=status,
                             expires_at=expires, room_id=room_id, room_only=room_only)
            occupancy.append(item)
            if draw(st.integers(0, 9)) == 0:
                occupancy.append(item)  # the very same object twice

    return Inputs(
        spec=spec, rules=rules, first_day=first_day, last_day=last_day, now=now,
        extra_windows=extra_windows, blocked=blocked, occupancy=occupancy,
        room_capacities=draw(st.sampled_from([None, {}, {"R1": 1}, {"R1": 2, "R2": 1}, {"R1": 4, "R2": 0}])),
        include_unavailable=draw(st.booleans()),
    )


@settings(max_examples=150, deadline=None)
@given(inputs())
def test_compute_slots_matches_the_reference_engine(case):
    assert_same_slots(case)


def window_fields(windows) -> list[tuple]:
    return [(w.start, w.end, repr(w.start), repr(w.end), w.location_id, w.room_id, w.day, w.parallel_sessions)
            for w in windows]


@settings(max_examples=50, deadline=None)
@given(inputs())
def test_window_helpers_match_the_reference_engine(case):
    """rule_windows, rule_windows_applies and build_windows are used outside the engine too."""
    day = case.first_day - timedelta(days=1)
    while day <= case.last_day + timedelta(days=1):
        for rule in case.rules:
            assert engine.rule_windows_applies(rule, day) == reference.rule_windows_applies(rule, day)
            new, old = engine.rule_windows(rule, day), reference.rule_windows(rule, day)
            assert [(a, b, repr(a), repr(b)) for a, b in new] == [(a, b, repr(a), repr(b)) for a, b in old]
        day += timedelta(days=1)
    assert window_fields(engine.build_windows(case.rules, case.extra_windows, case.spec, case.first_day,
                                              case.last_day)) == window_fields(
        reference.build_windows(case.rules, case.extra_windows, case.spec, case.first_day, case.last_day))


def busy_provider(seed: int) -> Inputs:
    """Sixty days of a busy provider: many bookings and busy times, so intervals overlap each other and windows."""
    rng = random.Random(seed)
    tz = rng.choice(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago"])
    first = date(2027, 3, 1) + timedelta(days=rng.randrange(0, 240))
    last = first + timedelta(days=59)
    rules = [
        WeeklyRule(weekdays=frozenset({1, 2, 3, 4, 5}), start=time(8), end=time(18), timezone=tz, location_id="A",
                   room_id=rng.choice(ROOMS), parallel_sessions=rng.randint(1, 2),
                   breaks=((time(12), time(13)), (time(15), time(15, 15)))),
        WeeklyRule(weekdays=frozenset({5, 6}), start=time(22), end=time(2, 30), timezone=tz, location_id="B",
                   breaks=((time(23, 30), time(0, 15)),)),
        WeeklyRule(weekdays=frozenset({2}), start=time(7), end=time(11), timezone=tz, location_id="A", priority=1,
                   valid_from=first + timedelta(days=20), valid_to=first + timedelta(days=40)),
    ]
    spec = AppointmentSpec(id=TYPE, duration_minutes=rng.choice([20, 30, 45]),
                           slot_interval_minutes=rng.choice([None, 10, 15]), buffer_before_minutes=rng.choice([0, 5]),
                           buffer_after_minutes=rng.choice([0, 5, 10]), seats=rng.choice([1, 1, 3]),
                           min_notice_minutes=rng.choice([0, 90]), max_future_days=rng.choice([45, 90]),
                           default_room_id=rng.choice(ROOMS))
    base = datetime.combine(first, time(5), tzinfo=UTC)

    def instant() -> datetime:
        return base + timedelta(days=rng.randrange(60), minutes=rng.randrange(0, 900, 5))

    occupancy = []
    for _ in range(120):
        session = instant()
        item = Occupancy(start=session - timedelta(minutes=rng.choice([0, 5])),
                         end=session + timedelta(minutes=rng.choice([30, 35, 50])),
                         appointment_type_id=rng.choice([TYPE, TYPE, OTHER_TYPE]), session_start=session,
                         status=rng.choice(["confirmed", "pending", "held", "cancelled"]),
                         expires_at=base + timedelta(days=rng.randrange(-2, 3)), group=spec.seats > 1,
                         room_id=rng.choice(ROOMS), room_only=rng.random() < 0.2)
        occupancy += [item] * rng.randint(1, 3)
    for _ in range(150):
        start = instant()
        occupancy.append(Occupancy(start=start, end=start + timedelta(minutes=rng.choice([15, 30, 60, 240])),
                                   external=True))
    blocked = [BlockedInterval(start=(s := instant()), end=s + timedelta(hours=rng.randint(1, 30)),
                               location_id=rng.choice([None, "A", "B"]),
                               appointment_type_id=rng.choice([None, TYPE, OTHER_TYPE])) for _ in range(6)]
    extra = [AvailableWindow(start=(s := instant()), end=s + timedelta(hours=rng.randint(1, 6)), location_id="A",
                             timezone=tz, room_id=rng.choice(ROOMS)) for _ in range(8)]
    rng.shuffle(occupancy)
    return Inputs(spec=spec, rules=rules, first_day=first, last_day=last, now=base + timedelta(days=rng.randrange(3)),
                  extra_windows=extra, blocked=blocked, occupancy=occupancy,
                  room_capacities=rng.choice([None, {"R1": 1, "R2": 3}, {"R1": 2}]),
                  include_unavailable=rng.random() < 0.5)


def test_sixty_busy_days_match_the_reference_engine():
    for seed in range(8):
        case = busy_provider(seed)
        assert assert_same_slots(case), seed  # and they are not trivially empty


def test_wall_clock_conversions_match_the_reference_engine():
    """Every quarter hour (and a few odd times) of the days around each zone's transitions, both passes."""
    walls = [time(h, m) for h in range(24) for m in (0, 15, 30, 45)]
    walls += [time(0, 0, 0, 1), time(2, 29, 59, 999_999), time(23, 59, 59, 999_999), time(1, 30, fold=1)]
    for name in ZONES:
        tz = wallclock.zone(name)
        for first in FIRST_DAYS:
            for day in (first + timedelta(days=n) for n in range(3)):
                for at in walls:
                    for new, old in ((wallclock.window_start, reference.window_start),
                                     (wallclock.window_end, reference.window_end)):
                        got, expected = new(day, at, tz), old(day, at, tz)
                        assert (got, repr(got)) == (expected, repr(expected)), (name, day, at, new.__name__)


def test_odd_but_accepted_inputs_match_the_reference_engine():
    """Naive datetimes (read as the machine's local time), a UTC start with fold=1, breaks as lists,
    the very same booking object twice, blocked and busy intervals that end before they start."""
    day = date(2027, 10, 30)
    start = datetime(2027, 10, 30, 6, tzinfo=UTC)
    booking = Occupancy(start=start + timedelta(hours=2), end=start + timedelta(hours=3), appointment_type_id=TYPE,
                        session_start=start + timedelta(hours=2))
    case = Inputs(
        spec=AppointmentSpec(id=TYPE, duration_minutes=30, slot_interval_minutes=20, buffer_before_minutes=5,
                             min_notice_minutes=7),
        rules=[WeeklyRule(weekdays=frozenset(range(1, 8)), start=time(8), end=time(1, 30), timezone="Europe/Berlin",
                          location_id="A", breaks=[[time(12), time(12, 45)], (time(0, 10), time(0, 20))])],
        first_day=day, last_day=day + timedelta(days=1), now=datetime(2027, 10, 29, 23, 59, 30),
        extra_windows=[AvailableWindow(start=start.replace(fold=1), end=start + timedelta(hours=2), location_id="A",
                                       timezone="Europe/Berlin")],
        blocked=[BlockedInterval(start=start + timedelta(hours=9), end=start + timedelta(hours=8))],
        occupancy=[booking, booking,
                   Occupancy(start=datetime(2027, 10, 31, 9), end=datetime(2027, 10, 31, 10), external=True),
                   Occupancy(start=start + timedelta(hours=6), end=start + timedelta(hours=5), external=True)],
        include_unavailable=True,
    )
    assert assert_same_slots(case)
