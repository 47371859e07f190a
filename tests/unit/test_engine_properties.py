"""Invariants of the availability engine over random rules, zones and occupancy.

Scenarios start on a date next to a DST transition of some zone in ZONES, so
gaps and repeated hours (whole and half hours, at 01:00, 02:00 and midnight)
come up often. Every time is on a 5-minute grid, like the app's.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from app.scheduling.engine import compute_slots, rule_windows
from app.scheduling.types import AppointmentSpec, AvailableWindow, BlockedInterval, Occupancy, Slot, WeeklyRule
from app.scheduling.wallclock import zone

UTC = timezone.utc
TYPE = "consult"
OTHER_TYPE = "other"
ZONES = [
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Santiago",  # shifts at midnight
    "Australia/Lord_Howe",  # shifts by 30 minutes
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "UTC",
]
FIRST_DAYS = [
    date(2027, 3, 13),  # New York springs forward on the 14th
    date(2027, 3, 27),  # Berlin and London spring forward on the 28th
    date(2027, 4, 3),  # Santiago (midnight) and Lord Howe fall back
    date(2027, 9, 4),  # Santiago springs forward at midnight
    date(2027, 10, 2),  # Lord Howe springs forward by 30 minutes
    date(2027, 10, 30),  # Berlin and London fall back on the 31st
    date(2027, 11, 6),  # New York falls back on the 7th
    date(2027, 6, 14),  # no transition anywhere
]
LIVE = {"held", "pending", "confirmed"}
GRID = 5  # minutes
STEPS_PER_DAY = 24 * 60 // GRID


@dataclass
class Scenario:
    spec: AppointmentSpec
    rules: list[WeeklyRule]
    first_day: date
    last_day: date
    now: datetime
    extra_windows: list[AvailableWindow] = field(default_factory=list)
    blocked: list[BlockedInterval] = field(default_factory=list)
    occupancy: list[Occupancy] = field(default_factory=list)
    room_capacities: dict = field(default_factory=dict)
    include_unavailable: bool = False

    def run(self, **changes) -> list[Slot]:
        inputs = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)} | changes
        return compute_slots(**inputs)

    @property
    def base(self) -> datetime:
        """Midnight UTC of the day before the first day: the origin of every random instant."""
        return datetime.combine(self.first_day - timedelta(days=1), time(0), tzinfo=UTC)


def wall(step: int) -> time:
    step %= STEPS_PER_DAY
    return time(step * GRID // 60, step * GRID % 60)


@st.composite
def weekly_rules(draw, first_day: date) -> WeeklyRule:
    start = draw(st.integers(0, STEPS_PER_DAY - 1))
    length = draw(st.integers(1, STEPS_PER_DAY))  # end <= start when it crosses midnight
    breaks = []
    for _ in range(draw(st.integers(0, 2))):
        offset = draw(st.integers(0, length - 1))
        size = draw(st.integers(1, length - offset))
        breaks.append((wall(start + offset), wall(start + offset + size)))
    valid = st.one_of(st.none(), st.none(), st.integers(-1, 3).map(lambda n: first_day + timedelta(days=n)))
    return WeeklyRule(
        weekdays=draw(st.one_of(st.just(frozenset(range(1, 8))), st.frozensets(st.integers(1, 7), min_size=1))),
        start=wall(start),
        end=wall(start + length),
        timezone=draw(st.sampled_from(ZONES)),
        location_id=draw(st.sampled_from(["A", "B"])),
        room_id=draw(st.sampled_from([None, "R1"])),
        valid_from=draw(valid),
        valid_to=draw(valid),
        parallel_sessions=draw(st.integers(1, 3)),
        breaks=tuple(breaks),
        priority=draw(st.sampled_from([0, 0, 0, 1])),
    )


@st.composite
def scenarios(draw) -> Scenario:
    first_day = draw(st.sampled_from(FIRST_DAYS)) + timedelta(days=draw(st.integers(0, 1)))
    last_day = first_day + timedelta(days=draw(st.integers(0, 2)))
    base = datetime.combine(first_day - timedelta(days=1), time(0), tzinfo=UTC)
    steps = ((last_day - first_day).days + 4) * STEPS_PER_DAY  # one day before to two days after

    def instant(step: int) -> datetime:
        return base + timedelta(minutes=GRID * step)

    spec = AppointmentSpec(
        id=TYPE,
        duration_minutes=draw(st.sampled_from([5, 15, 20, 30, 45, 60, 90, 120])),
        buffer_before_minutes=GRID * draw(st.integers(0, 6)),
        buffer_after_minutes=GRID * draw(st.integers(0, 6)),
        slot_interval_minutes=draw(st.sampled_from([None, None, 5, 10, 15, 30, 60])),
        seats=draw(st.sampled_from([1, 1, 1, 2, 5])),
        min_notice_minutes=draw(st.sampled_from([0, 0, 0, 5, 60, 125, 1440])),
        max_future_days=draw(st.sampled_from([0, 2, 3, 30, 30, 30])),
    )
    # Mostly well before the dates (notice and horizon rarely bite), sometimes in the middle of them.
    now = instant(draw(st.one_of(st.integers(-STEPS_PER_DAY, 0), st.integers(0, steps // 2))))
    rules = draw(st.lists(weekly_rules(first_day), min_size=1, max_size=3))

    # Where the working windows are, so that occupancy and blocked time often land on slots.
    windows = [w for r in rules for n in range((last_day - first_day).days + 1)
               for w in rule_windows(r, first_day + timedelta(days=n))]
    grid = timedelta(minutes=spec.interval_minutes)

    def on_a_slot() -> datetime:
        """A random instant, or one on the grid of a working window."""
        if not windows or draw(st.integers(0, 2)) == 0:
            return instant(draw(st.integers(0, steps)))
        start, end = draw(st.sampled_from(windows))
        return start + grid * draw(st.integers(0, max(0, (end - start) // grid)))

    def interval(max_length: int) -> tuple[datetime, datetime]:
        start = on_a_slot() - timedelta(minutes=GRID * draw(st.integers(0, 3)))
        return start, start + timedelta(minutes=GRID * draw(st.integers(1, max_length)))

    extra_windows = []
    for _ in range(draw(st.integers(0, 2))):
        start, end = interval(STEPS_PER_DAY // 4)
        extra_windows.append(AvailableWindow(
            start=start, end=end, location_id=draw(st.sampled_from(["A", "B"])),
            timezone=draw(st.sampled_from(ZONES)), room_id=draw(st.sampled_from([None, "R1"])),
            appointment_type_id=draw(st.sampled_from([None, TYPE, OTHER_TYPE])),
            parallel_sessions=draw(st.integers(1, 3))))

    blocked = []
    for _ in range(draw(st.integers(0, 2))):
        start, end = interval(STEPS_PER_DAY // 8)
        blocked.append(BlockedInterval(start=start, end=end,
                                       appointment_type_id=draw(st.sampled_from([None, TYPE, OTHER_TYPE])),
                                       location_id=draw(st.sampled_from([None, "A", "B"]))))

    group = {TYPE: spec.seats > 1, OTHER_TYPE: draw(st.booleans())}  # which booked types have seats > 1
    occupancy = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 5)) == 0:
            occupancy.append(Occupancy(*interval(36), external=True))
            continue
        session_start = on_a_slot()
        start = session_start - timedelta(minutes=GRID * draw(st.integers(0, 6)))
        end = session_start + timedelta(minutes=GRID * draw(st.integers(1, 30)))
        expires = draw(st.one_of(st.none(), st.integers(-6, 6).map(lambda n: now + timedelta(minutes=GRID * n))))
        status = draw(st.sampled_from(["confirmed", "confirmed", "pending", "held", "cancelled", "declined",
                                       "expired"]))
        type_id = draw(st.sampled_from([TYPE, OTHER_TYPE]))
        for _ in range(draw(st.integers(1, 3))):  # several people in one session
            occupancy.append(Occupancy(start=start, end=end, appointment_type_id=type_id, group=group[type_id],
                                       session_start=session_start, status=status, expires_at=expires))

    return Scenario(
        spec=spec, rules=rules, first_day=first_day, last_day=last_day, now=now,
        extra_windows=extra_windows, blocked=blocked, occupancy=occupancy,
        room_capacities=draw(st.sampled_from([{}, {"R1": 1}, {"R1": 2}, {"R1": 4}])),
        include_unavailable=draw(st.booleans()),
    )


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def is_live(item: Occupancy, now: datetime) -> bool:
    if item.external:
        return True
    if item.status not in LIVE:
        return False
    return not (item.status == "held" and item.expires_at is not None and item.expires_at <= now)


def applies(rule: WeeklyRule, day: date) -> bool:
    return (day.isoweekday() in rule.weekdays
            and (rule.valid_from is None or rule.valid_from <= day)
            and (rule.valid_to is None or day <= rule.valid_to))


def windows_of(scenario: Scenario, day: date, location, room) -> list[tuple[datetime, datetime]]:
    """Independently: the top-priority rules' windows of one provider-day, plus the extra windows."""
    applicable = [r for r in scenario.rules if applies(r, day)]
    top = max((r.priority for r in applicable), default=None)
    windows = [w for r in applicable if r.priority == top and (r.location_id, r.room_id) == (location, room)
               for w in rule_windows(r, day)]
    windows += [(w.start, w.end) for w in scenario.extra_windows
                if (w.location_id, w.room_id) == (location, room)
                and w.appointment_type_id in (None, scenario.spec.id)
                and w.start.astimezone(zone(w.timezone)).date() == day]
    return windows


def everything(found: list[Slot]) -> list[tuple]:
    """Every field: Slot's own == compares only start, end and sort_key."""
    return [dataclasses.astuple(s) for s in found]


def key(slot: Slot) -> tuple:
    return slot.start, slot.location_id, slot.room_id


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_no_slot_span_overlaps_blocked_time_busy_time_or_a_booking_of_a_single_place(scenario):
    spec = scenario.spec
    before, after = timedelta(minutes=spec.buffer_before_minutes), timedelta(minutes=spec.buffer_after_minutes)
    for slot in scenario.run(include_unavailable=False):
        span = (slot.start - before, slot.end + after)
        for b in scenario.blocked:
            if b.appointment_type_id in (None, spec.id) and b.location_id in (None, slot.location_id):
                assert not overlaps(*span, b.start, b.end), (slot, b)
        for o in scenario.occupancy:
            if o.external or (spec.seats == 1 and slot.capacity == 1 and is_live(o, scenario.now)):
                assert not overlaps(*span, o.start, o.end), (slot, o)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_every_slot_lies_inside_an_available_window_of_its_provider_day(scenario):
    for slot in scenario.run():
        assert scenario.first_day <= slot.local_date <= scenario.last_day
        assert slot.end - slot.start == timedelta(minutes=scenario.spec.duration_minutes)
        windows = windows_of(scenario, slot.local_date, slot.location_id, slot.room_id)
        assert any(start <= slot.start and slot.end <= end for start, end in windows), (slot, windows)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_every_returned_slot_has_between_one_and_capacity_places_left(scenario):
    for slot in scenario.run(include_unavailable=False):
        assert 1 <= slot.capacity_left <= slot.capacity, slot
        assert slot.status in {"open", "partial"}


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.data())
def test_output_is_sorted_and_does_not_depend_on_the_order_of_the_inputs(scenario, data):
    first = scenario.run()
    shuffled = scenario.run(**{name: data.draw(st.permutations(getattr(scenario, name)), label=name)
                               for name in ("rules", "extra_windows", "blocked", "occupancy")})
    assert [(s.start, s.end, s.sort_key) for s in first] == sorted((s.start, s.end, s.sort_key) for s in first)
    assert len({key(s) for s in first}) == len(first)  # one slot per start, location and room
    assert everything(shuffled) == everything(first)
    assert everything(scenario.run()) == everything(first)


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.data())
def test_adding_an_occupancy_never_adds_a_slot_or_a_place(scenario, data):
    before = {key(s): s.capacity_left for s in scenario.run(include_unavailable=False)}
    extra = data.draw(st.sampled_from(scenario.occupancy)) if scenario.occupancy else None
    moved = timedelta(minutes=GRID * data.draw(st.integers(-STEPS_PER_DAY, STEPS_PER_DAY)))
    start = (extra.start if extra else scenario.base + timedelta(days=1)) + moved
    added = Occupancy(start=start, end=start + timedelta(minutes=GRID * data.draw(st.integers(1, 36))),
                      appointment_type_id=data.draw(st.sampled_from([TYPE, OTHER_TYPE])),
                      session_start=data.draw(st.sampled_from([start, extra.session_start if extra else start])),
                      status=data.draw(st.sampled_from(["confirmed", "held", "pending"])),
                      external=data.draw(st.booleans()))
    after = {key(s): s.capacity_left for s in scenario.run(include_unavailable=False,
                                                           occupancy=[*scenario.occupancy, added])}
    assert set(after) <= set(before)
    assert all(after[k] <= before[k] for k in after), [(k, before[k], after[k]) for k in after if after[k] > before[k]]


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_slot_starts_respect_notice_and_horizon(scenario):
    earliest = scenario.now + timedelta(minutes=scenario.spec.min_notice_minutes)
    latest = scenario.now + timedelta(days=scenario.spec.max_future_days)
    for slot in scenario.run():
        assert earliest <= slot.start <= latest, slot


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_include_unavailable_only_adds_positions_that_cannot_be_booked(scenario):
    bookable = everything(scenario.run(include_unavailable=False))
    every_position = scenario.run(include_unavailable=True)
    assert everything([s for s in every_position if s.capacity_left >= 1]) == bookable
    assert all(s.status in {"full", "blocked"} for s in every_position if s.capacity_left < 1)
