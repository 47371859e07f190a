"""`fingerprints.valid_until`: until when the engine's answer for unchanged inputs stays the
same as the clock moves. Checked against the engine itself: the answer is identical just
before the instant and differs just after it."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from app.availability.fingerprints import valid_until
from app.availability.inputs import ProviderInputs
from app.scheduling.engine import compute_slots
from app.scheduling.types import AppointmentSpec, AvailableWindow, Occupancy, WeeklyRule

NOW = datetime(2027, 3, 1, 10, 7, tzinfo=timezone.utc)  # a Monday
FIRST, LAST = date(2027, 2, 28), date(2027, 3, 5)
TUESDAYS = WeeklyRule(weekdays=frozenset({2}), start=time(0), end=time(23), timezone="UTC", location_id="here")


def _inputs(spec: AppointmentSpec, occupancy=(), rules=(TUESDAYS,), extra=()) -> ProviderInputs:
    return ProviderInputs(provider_id="p", organization_id="o", rules=tuple(rules), extra_windows=tuple(extra),
                          blocked=(),
                          occupancy=tuple(occupancy), room_capacities={}, types=((None, spec),),
                          zones=frozenset({"UTC"}))


def _run(loaded: ProviderInputs, now: datetime) -> dict:
    return {spec.id: _slots(loaded, spec, now) for _, spec in loaded.types}


def _all_fields(loaded: ProviderInputs, now: datetime) -> str:
    """Every field of every slot (a Slot compares only its start, end and sort key)."""
    return repr(_run(loaded, now))


def _slots(loaded: ProviderInputs, spec: AppointmentSpec, now: datetime) -> list:
    return compute_slots(spec=spec, rules=loaded.rules, first_day=FIRST, last_day=LAST, now=now,
                         extra_windows=loaded.extra_windows, occupancy=loaded.occupancy, include_unavailable=True)


def _assert_changes_exactly_at(loaded: ProviderInputs, expected: datetime) -> None:
    assert valid_until(loaded, _run(loaded, NOW), NOW, FIRST, LAST) == expected
    assert _all_fields(loaded, expected - timedelta(microseconds=1)) == _all_fields(loaded, NOW)
    assert _all_fields(loaded, expected + timedelta(microseconds=1)) != _all_fields(loaded, NOW)


def test_the_first_slot_leaving_the_notice_window():
    # Tuesday's first slot is 00:00; with 30 minutes' notice it goes at Monday 23:30.
    spec = AppointmentSpec(id="t", duration_minutes=60, min_notice_minutes=30, max_future_days=30)
    _assert_changes_exactly_at(_inputs(spec), datetime(2027, 3, 1, 23, 30, tzinfo=timezone.utc))


def test_the_booking_horizon_reaching_the_next_slot_comes_first():
    # now + 1 day is Tuesday 10:07: Tuesday 11:00 joins at Monday 11:00, long before the
    # notice would drop Tuesday 00:00 (Monday 23:30).
    spec = AppointmentSpec(id="t", duration_minutes=60, min_notice_minutes=30, max_future_days=1)
    _assert_changes_exactly_at(_inputs(spec), datetime(2027, 3, 1, 11, 0, tzinfo=timezone.utc))


def test_the_booking_horizon_inside_a_long_available_exception():
    # One window from Monday 12:00 to Friday 12:00 (it belongs to Monday), hourly slots, a
    # three-day booking horizon: now + 3 days is Thursday 10:07, so Thursday 11:00 joins at
    # Monday 11:00, before Monday 12:00's slot leaves. The window starts days before.
    spec = AppointmentSpec(id="t", duration_minutes=60, max_future_days=3)
    window = AvailableWindow(start=datetime(2027, 3, 1, 12, tzinfo=timezone.utc),
                             end=datetime(2027, 3, 5, 12, tzinfo=timezone.utc), location_id="here", timezone="UTC")
    _assert_changes_exactly_at(_inputs(spec, rules=(), extra=[window]),
                               datetime(2027, 3, 1, 11, 0, tzinfo=timezone.utc))


def test_a_hold_expiring_first():
    spec = AppointmentSpec(id="t", duration_minutes=60, max_future_days=30)
    start = datetime(2027, 3, 2, 9, tzinfo=timezone.utc)
    expires = NOW + timedelta(minutes=5)
    hold = Occupancy(start=start, end=start + timedelta(hours=1), appointment_type_id="t", session_start=start,
                     status="held", expires_at=expires)
    _assert_changes_exactly_at(_inputs(spec, [hold]), expires)


def test_no_slots_and_no_horizon_inside_the_range_means_no_limit():
    spec = AppointmentSpec(id="t", duration_minutes=60, max_future_days=30)
    loaded = ProviderInputs(provider_id="p", organization_id="o", rules=(), extra_windows=(), blocked=(),
                            occupancy=(), room_capacities={}, types=((None, spec),), zones=frozenset())
    assert valid_until(loaded, _run(loaded, NOW), NOW, FIRST, LAST) is None
