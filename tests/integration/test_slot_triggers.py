"""Invariant 2: every committed change that moves availability updates the slots
table in the same transaction, and reconcile repairs drift and fills new providers."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from app.availability.reconcile import reconcile
from app.database import write_transaction
from app.extensions import db
from app.models import (
    AppointmentType,
    AvailabilityBreak,
    AvailabilityException,
    AvailabilityRule,
    AvailabilitySlot,
    Booking,
    CalendarConnection,
    ExternalBusyTime,
    Location,
    Provider,
    TimeOff,
    appointment_type_providers,
    new_id,
    provider_locations,
    utcnow,
    weekday_mask,
)
from tests.integration.helpers import seed_demo_clinic
from tests.slot_assertions import assert_slots_match_engine, table_rows

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def demo(app, db_session, monkeypatch):
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        yield


def _weber() -> Provider:
    return db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Anna Weber")).one()


def _next_weekday(iso_weekday: int, at_least_days: int = 2) -> date:
    day = utcnow().date() + timedelta(days=at_least_days)
    while day.isoweekday() != iso_weekday:
        day += timedelta(days=1)
    return day


def _berlin(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=BERLIN).astimezone(timezone.utc)


def _window() -> tuple[date, date]:
    today = utcnow().date()
    return today + timedelta(days=2), today + timedelta(days=14)


def _open_starts(provider_id, type_name: str, day: date) -> list[str]:
    kind = db.session.scalars(select(AppointmentType).where(AppointmentType.name == type_name)).one()
    rows = db.session.scalars(select(AvailabilitySlot).where(
        AvailabilitySlot.provider_id == provider_id, AvailabilitySlot.appointment_type_id == kind.id,
        AvailabilitySlot.local_date == day, AvailabilitySlot.status.in_(("open", "partial")),
    ).order_by(AvailabilitySlot.start_at))
    return [r.start_at.astimezone(BERLIN).strftime("%H:%M") for r in rows]


def test_seeded_demo_clinic_is_materialized_and_matches_the_engine(demo):
    for provider in db.session.scalars(select(Provider)):
        assert_slots_match_engine(provider.id, *_window())
    assert db.session.scalar(select(func.count()).select_from(AvailabilitySlot)) > 500


def test_blocking_an_hour_removes_exactly_the_overlapping_slots(demo):
    weber, wednesday = _weber(), _next_weekday(3)  # a day without demo bookings
    before = _open_starts(weber.id, "General consultation", wednesday)
    with write_transaction():
        db.session.add(AvailabilityException(organization_id=weber.organization_id, provider_id=weber.id,
                                             status="blocked", start_at=_berlin(wednesday, 10),
                                             end_at=_berlin(wednesday, 11)))
    after = _open_starts(weber.id, "General consultation", wednesday)
    # 30-minute visits with a 5-minute buffer after: 09:30 ends its buffer at 10:05 and is blocked too
    assert set(before) - set(after) == {"09:30", "10:00", "10:30"}
    assert set(after) <= set(before)
    assert_slots_match_engine(weber.id, *_window())


@pytest.mark.parametrize("change", ["add_rule", "edit_rule_hours", "add_break", "delete_rule"])
def test_rule_changes_recompute_the_whole_horizon(demo, change):
    weber = _weber()
    rule = db.session.scalars(select(AvailabilityRule).where(AvailabilityRule.provider_id == weber.id)).first()
    with write_transaction():
        rule = db.session.get(AvailabilityRule, rule.id)
        if change == "add_rule":  # Saturday mornings
            db.session.add(AvailabilityRule(organization_id=weber.organization_id, provider_id=weber.id,
                                            location_id=rule.location_id, weekday_mask=weekday_mask([6]),
                                            start_time=time(9), end_time=time(12)))
        elif change == "edit_rule_hours":  # close at 14:00 instead of 16:00
            rule.end_time = time(14)
        elif change == "add_break":  # a second break mid-morning
            db.session.add(AvailabilityBreak(organization_id=weber.organization_id, rule_id=rule.id,
                                             start_time=time(10), end_time=time(10, 30)))
        else:
            db.session.delete(rule)
    assert_slots_match_engine(weber.id, *_window())
    saturday = _next_weekday(6)
    if change == "add_rule":
        assert _open_starts(weber.id, "General consultation", saturday)[:2] == ["09:00", "09:30"]
    if change == "delete_rule":
        assert _open_starts(weber.id, "General consultation", _next_weekday(3)) == []


def test_time_off_blocks_only_once_approved(demo):
    weber, wednesday = _weber(), _next_weekday(3)
    with write_transaction():
        off = TimeOff(organization_id=weber.organization_id, provider_id=weber.id,
                      start_at=_berlin(wednesday, 0), end_at=_berlin(wednesday + timedelta(days=1), 0))
        db.session.add(off)
    assert _open_starts(weber.id, "General consultation", wednesday) != []
    with write_transaction():
        db.session.get(TimeOff, off.id).status = "approved"
    assert _open_starts(weber.id, "General consultation", wednesday) == []
    assert_slots_match_engine(weber.id, *_window())


def _book(weber, day, hh, status="confirmed", **extra) -> Booking:
    kind = db.session.scalars(select(AppointmentType).where(AppointmentType.name == "General consultation")).one()
    start = _berlin(day, hh)
    booking = Booking(organization_id=weber.organization_id, provider_id=weber.id, appointment_type_id=kind.id,
                      location_id=weber.locations[0].id, guest_name="Test Guest", start_at=start,
                      end_at=start + timedelta(minutes=30), block_start_at=start,
                      block_end_at=start + timedelta(minutes=35), status=status, **extra)
    db.session.add(booking)
    return booking


def test_bookings_take_their_slot_and_free_it_when_cancelled_or_moved(demo):
    weber, thursday = _weber(), _next_weekday(4)
    with write_transaction():
        booking = _book(weber, thursday, 9)
    assert "09:00" not in _open_starts(weber.id, "General consultation", thursday)
    with write_transaction():  # moved to 11:00: the old time comes back, the new one goes
        moved = db.session.get(Booking, booking.id)
        moved.start_at, moved.end_at = _berlin(thursday, 11), _berlin(thursday, 11, 30)
        moved.block_start_at, moved.block_end_at = moved.start_at, _berlin(thursday, 11, 35)
    starts = _open_starts(weber.id, "General consultation", thursday)
    assert "09:00" in starts and "11:00" not in starts
    with write_transaction():
        db.session.get(Booking, booking.id).status = "cancelled"
    assert "11:00" in _open_starts(weber.id, "General consultation", thursday)
    assert_slots_match_engine(weber.id, *_window())


def test_an_expired_hold_never_blocks_even_before_cleanup(demo):
    weber, friday = _weber(), _next_weekday(5)
    with write_transaction():
        _book(weber, friday, 9, status="held", hold_expires_at=utcnow() - timedelta(seconds=1))
    assert "09:00" in _open_starts(weber.id, "General consultation", friday)
    with write_transaction():
        _book(weber, friday, 10, status="held", hold_expires_at=utcnow() + timedelta(minutes=10))
    assert "10:00" not in _open_starts(weber.id, "General consultation", friday)


def test_external_busy_times_block_and_release(demo):
    weber, monday = _weber(), _next_weekday(1)
    with write_transaction():
        connection = CalendarConnection(organization_id=weber.organization_id, provider_id=weber.id, kind="ics",
                                        display_name="Personal")
        db.session.add(connection)
        db.session.flush()
        busy = ExternalBusyTime(organization_id=weber.organization_id, provider_id=weber.id,
                                connection_id=connection.id, external_uid="evt-1", start_at=_berlin(monday, 14),
                                end_at=_berlin(monday, 15), updated_at=utcnow())
        db.session.add(busy)
    assert not {"14:00", "14:30"} & set(_open_starts(weber.id, "General consultation", monday))
    with write_transaction():
        db.session.delete(db.session.get(ExternalBusyTime, busy.id))
    assert {"14:00", "14:30"} <= set(_open_starts(weber.id, "General consultation", monday))
    assert_slots_match_engine(weber.id, *_window())


def test_changing_a_types_duration_and_a_locations_zone_recompute(demo):
    weber, tuesday = _weber(), _next_weekday(3)
    with write_transaction():
        kind = db.session.scalars(select(AppointmentType).where(AppointmentType.name == "General consultation")).one()
        kind.duration_minutes, kind.buffer_after_minutes = 60, 0
    assert _open_starts(weber.id, "General consultation", tuesday)[:3] == ["08:00", "09:00", "10:00"]
    with write_transaction():
        db.session.scalars(select(Location).where(Location.name == "Berlin Mitte")).one().timezone = "Europe/London"
    assert_slots_match_engine(weber.id, *_window())
    # 08:00 London is 09:00 Berlin
    assert _open_starts(weber.id, "General consultation", tuesday)[0] == "09:00"


def test_deactivating_a_provider_removes_their_slots(demo):
    weber = _weber()
    with write_transaction():
        db.session.get(Provider, weber.id).is_active = False
    assert table_rows(weber.id, *_window()) == set()


def test_reconcile_repairs_drift_and_cold_starts_new_providers(demo):
    weber = _weber()
    # Drift: rows changed behind the engine's back with bulk SQL (no ORM events).
    with write_transaction():
        db.session.execute(update(AvailabilitySlot).where(AvailabilitySlot.provider_id == weber.id)
                           .values(status="blocked"))
        # A provider imported with bulk SQL: no ORM events, so nothing is materialized yet.
        newcomer_id = new_id()
        db.session.execute(Provider.__table__.insert().values(
            id=newcomer_id, organization_id=weber.organization_id, display_name="Dr. New",
            timezone="Europe/Berlin", is_active=True, created_at=utcnow()))
        db.session.execute(provider_locations.insert().values(provider_id=newcomer_id,
                                                              location_id=weber.locations[0].id))
        db.session.execute(AvailabilityRule.__table__.insert().values(
            id=new_id(), organization_id=weber.organization_id, kind="weekly", provider_id=newcomer_id,
            location_id=weber.locations[0].id, weekday_mask=127, start_time=time(9), end_time=time(12),
            parallel_sessions=1, priority=0, created_at=utcnow()))
        db.session.execute(appointment_type_providers.insert().values(
            appointment_type_id=db.session.scalars(select(AppointmentType.id).where(
                AppointmentType.name == "General consultation")).one(), provider_id=newcomer_id))
    assert table_rows(newcomer_id, *_window()) == set()
    report = reconcile()
    assert report.changed_rows > 0
    assert_slots_match_engine(weber.id, *_window())
    assert_slots_match_engine(newcomer_id, *_window())
    assert table_rows(newcomer_id, *_window())
    assert reconcile().changed_rows == 0  # idempotent once repaired


def test_slot_ids_survive_recomputation_of_unchanged_slots(demo):
    weber, tuesday = _weber(), _next_weekday(2)
    kind = db.session.scalars(select(AppointmentType).where(AppointmentType.name == "General consultation")).one()

    def ids():
        return {r.start_at: r.id for r in db.session.scalars(select(AvailabilitySlot).where(
            AvailabilitySlot.provider_id == weber.id, AvailabilitySlot.appointment_type_id == kind.id,
            AvailabilitySlot.local_date == tuesday))}

    before = ids()
    with write_transaction():
        _book(weber, tuesday, 14)
    after = ids()
    unchanged = [start for start in before if start in after]
    assert unchanged and all(before[s] == after[s] for s in unchanged)
