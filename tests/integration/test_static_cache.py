"""A hold's non-booking inputs kept across requests (app/availability/static_cache.py) are
used only while the organization's input version is unchanged, and the database changes it
with every change to those rows, ORM or bulk SQL alike (migration 0012's triggers). On SQLite
and PostgreSQL. Each change below is written with Core statements, which no ORM event sees.
Within a hold's transaction the live bookings are read once; the slot refresh before commit
adds the hold itself to them (app/availability/inputs.py).
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, event, insert, select, update

from app.availability import inputs, static_cache
from app.availability.check import slot_at
from app.extensions import db
from app.models import (
    AppointmentType,
    AvailabilityBreak,
    AvailabilityRule,
    InputVersion,
    Provider,
    TimeOff,
    new_id,
    utcnow,
)
from tests.integration.booking_helpers import assert_slots_true, at
from tests.integration.test_booking_services import clinic, consult, refused, wednesday  # noqa: F401 - fixtures


def _commit(statement) -> None:
    db.session.execute(statement)
    db.session.commit()


def _time_off(clinic, day):
    return insert(TimeOff).values(id=new_id(), organization_id=clinic.organization_id, provider_id=clinic.weber,
                                  start_at=at(day, "10:00"), end_at=at(day, "11:00"), status="approved",
                                  created_at=utcnow())


def _no_rules(clinic, _day):
    rules = select(AvailabilityRule.id).where(AvailabilityRule.provider_id == clinic.weber)
    db.session.execute(delete(AvailabilityBreak).where(AvailabilityBreak.rule_id.in_(rules)))
    return delete(AvailabilityRule).where(AvailabilityRule.provider_id == clinic.weber)


def _long_visits(clinic, _day):
    return update(AppointmentType).where(AppointmentType.id == clinic.consult).values(duration_minutes=600)


@pytest.mark.parametrize("change", [_time_off, _no_rules, _long_visits], ids=["time off", "hours", "visit type"])
def test_a_hold_after_a_bulk_sql_change_of_its_inputs_sees_the_change(clinic, wednesday, change):
    patient = clinic.actor("patient")
    assert consult(clinic, patient, at(wednesday, "09:00")).booking.status == "held"  # inputs now kept
    _commit(change(clinic, wednesday))

    refused(409, "SLOT_UNAVAILABLE", consult, clinic, clinic.actor("frontdesk"), at(wednesday, "10:00"))


def test_a_second_hold_reads_no_hours_or_time_off_and_a_change_makes_it_read_them(clinic, wednesday, app):
    with app.app_context():
        engine = db.engine
    tables = []

    def seen(conn, cursor, statement, *args):
        for name, column in (("availability_rules", "availability_rules.weekday_mask"),
                             ("time_off", "time_off.start_at")):  # the inputs' own queries
            if column in statement and statement.lstrip().upper().startswith("SELECT"):
                tables.append(name)

    patient, desk = clinic.actor("patient"), clinic.actor("frontdesk")
    consult(clinic, patient, at(wednesday, "09:00"))
    event.listen(engine, "before_cursor_execute", seen)
    try:
        consult(clinic, desk, at(wednesday, "10:00"))
        kept_reads = list(tables)
        _commit(_time_off(clinic, wednesday + timedelta(days=1)))
        tables.clear()
        consult(clinic, desk, at(wednesday, "11:00"))
        fresh_reads = list(tables)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert "availability_rules" not in kept_reads and "time_off" not in kept_reads
    assert "availability_rules" in fresh_reads and "time_off" in fresh_reads


def test_kept_inputs_narrowed_to_some_dates_equal_a_load_of_those_dates(clinic, wednesday):
    """Time off and blocks that straddle the edges of the asked range are kept or dropped
    exactly as the query would."""
    for hhmm, hours in (("08:00", 30), ("13:00", 2)):
        _commit(insert(TimeOff).values(
            id=new_id(), organization_id=clinic.organization_id, provider_id=clinic.weber,
            start_at=at(wednesday, hhmm), end_at=at(wednesday, hhmm) + timedelta(hours=hours),
            status="approved", created_at=utcnow()))
    provider = db.session.get(Provider, clinic.weber)
    wide = inputs.day_bounds(wednesday - timedelta(days=5), wednesday + timedelta(days=5))
    kept = inputs.load_static([provider], *wide)[provider.id]
    for first, last in ((0, 0), (-1, 0), (1, 2), (-3, 3)):
        start, end = inputs.day_bounds(wednesday + timedelta(days=first), wednesday + timedelta(days=last))
        assert static_cache.narrowed(kept, start, end) == inputs.load_static([provider], start, end)[provider.id]
    assert len(kept.blocked) > len(static_cache.narrowed(kept, *inputs.day_bounds(
        wednesday + timedelta(days=4), wednesday + timedelta(days=4))).blocked)


def test_a_hold_reads_the_live_bookings_once_and_its_slot_rows_still_match_the_engine(clinic, wednesday, app):
    with app.app_context():
        engine = db.engine
    reads = []

    def seen(conn, cursor, statement, *args):
        if statement.lstrip().startswith("SELECT bookings.block_start_at"):  # inputs._live_bookings
            reads.append(statement)

    desk = clinic.actor("frontdesk")
    consult(clinic, desk, at(wednesday, "09:00"))  # inputs kept
    event.listen(engine, "before_cursor_execute", seen)
    try:
        provider, kind = db.session.get(Provider, clinic.weber), db.session.get(AppointmentType, clinic.consult)
        with inputs.reusing_static_inputs():
            slot_at(provider, kind, at(wednesday, "10:00"), utcnow())
        db.session.rollback()
        by_the_check = len(reads)
        reads.clear()
        consult(clinic, desk, at(wednesday, "10:00"))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert by_the_check >= 1 and len(reads) == by_the_check  # the refresh read none of its own
    assert_slots_true(clinic.weber)


def test_inputs_kept_days_ago_are_kept_again_for_the_horizon_of_today(clinic, wednesday, app, monkeypatch):
    desk = clinic.actor("frontdesk")
    today = utcnow()
    monkeypatch.setattr(static_cache, "utcnow", lambda: today - timedelta(days=10))
    consult(clinic, desk, at(wednesday, "09:00"))  # kept with the horizon of ten days ago
    key = (db.engine.url, clinic.weber)
    assert static_cache._kept.get(key).start == static_cache._window()[0]
    monkeypatch.setattr(static_cache, "utcnow", lambda: today)
    old_start = static_cache._kept.get(key).start

    assert consult(clinic, desk, at(wednesday + timedelta(days=7), "10:00")).booking.status == "held"
    assert static_cache._kept.get(key).start == static_cache._window()[0] > old_start
    assert_slots_true(clinic.weber)


def test_without_a_version_row_nothing_is_kept_and_a_hold_reads_its_inputs(clinic, wednesday, app):
    """An organization no trigger has touched yet (or whose row was lost) has no version:
    every hold reads the tables, and holds still work."""
    _commit(delete(InputVersion).where(InputVersion.organization_id == clinic.organization_id))
    with app.app_context():
        engine = db.engine
    reads = []

    def seen(conn, cursor, statement, *args):
        if "availability_rules.weekday_mask" in statement:
            reads.append(statement)

    desk = clinic.actor("frontdesk")
    key = (db.engine.url, clinic.weber)
    before = static_cache._kept.get(key)  # (another test's, kept under a version this database no longer has)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        consult(clinic, desk, at(wednesday, "09:00"))
        consult(clinic, desk, at(wednesday, "10:00"))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(reads) == 2  # one read of the hours per hold: nothing was kept between them
    assert static_cache._kept.get(key) is before
    assert_slots_true(clinic.weber)
