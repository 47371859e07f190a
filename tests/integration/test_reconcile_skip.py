"""Reconcile skips a provider only when nothing it depends on changed since it last verified
it (app/availability/fingerprints.py). Each change below is made behind the commit-time
triggers' back (they would rewrite the rows and so change the rows' digest anyway), so
only the inputs' fingerprint or the clock can tell reconcile to recompute: a wrong skip
leaves the table different from a fresh engine run and fails the test."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from app.availability import fingerprints
from app.availability.materialize import horizon
from app.availability.reconcile import reconcile
from app.database import write_transaction
from app.extensions import db
from app.models import (
    AppointmentType,
    AvailabilityRule,
    AvailabilitySlot,
    Booking,
    CalendarConnection,
    ExternalBusyTime,
    Provider,
    TimeOff,
    utcnow,
)
from tests.integration.test_slot_triggers import demo  # noqa: F401 - fixture (the seeded demo clinic)
from tests.slot_assertions import assert_slots_match_engine

SLOTS = AvailabilitySlot.__table__
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def verified(demo):
    """Every provider reconciled at a fixed `now` (records stored); yields that now."""
    now = utcnow().replace(microsecond=0)
    report = reconcile(full=True, now=now)
    assert report.skipped == 0 and report.providers > 1
    return now


def _weber() -> Provider:
    return db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Anna Weber")).one()


def _consultation() -> AppointmentType:
    return db.session.scalars(select(AppointmentType).where(AppointmentType.name == "General consultation")).one()


def _berlin(day: date, hh: int) -> datetime:
    return datetime.combine(day, time(hh), tzinfo=BERLIN).astimezone(timezone.utc)


def _weekday(now: datetime, iso_weekday: int) -> date:
    day = now.date() + timedelta(days=3)
    while day.isoweekday() != iso_weekday:
        day += timedelta(days=1)
    return day


@contextmanager
def _quietly() -> Iterator[None]:
    """A write transaction whose slot triggers are off: inputs change, rows do not."""
    with write_transaction():
        db.session.info["bookwell_skip_triggers"] = True
        yield
        db.session.flush()  # now, so the commit's trigger sees (and drops) what changed


def _assert_only_weber_recomputed(now: datetime) -> None:
    providers = db.session.scalar(select(db.func.count()).select_from(Provider))
    weber = _weber()
    report = reconcile(now=now)
    assert report.skipped == providers - 1  # the others are still as verified
    assert report.changed_rows > 0  # the change moved weber's slots, and reconcile wrote them
    assert_slots_match_engine(weber.id, *horizon(now), now=now)
    assert reconcile(now=now).skipped == providers  # and now weber is verified again


def test_an_unchanged_second_run_skips_everyone_and_writes_nothing(verified):
    providers = db.session.scalar(select(db.func.count()).select_from(Provider))
    report = reconcile(now=verified)
    assert (report.providers, report.skipped, report.changed_rows) == (providers, providers, 0)


def test_a_new_booking_is_seen(verified):
    weber, day = _weber(), _weekday(verified, 2)
    kind = _consultation()
    start = _berlin(day, 9)
    with _quietly():
        db.session.add(Booking(organization_id=weber.organization_id, provider_id=weber.id, appointment_type_id=kind.id,
                               location_id=weber.locations[0].id, guest_name="Test Guest", start_at=start,
                               end_at=start + timedelta(minutes=30), block_start_at=start,
                               block_end_at=start + timedelta(minutes=35), status="confirmed"))
    _assert_only_weber_recomputed(verified)


def test_a_changed_weekly_rule_is_seen(verified):
    weber = _weber()
    rule = db.session.scalars(select(AvailabilityRule).where(AvailabilityRule.provider_id == weber.id)
                              .order_by(AvailabilityRule.id)).first()
    with _quietly():
        db.session.execute(update(AvailabilityRule).where(AvailabilityRule.id == rule.id)
                           .values(end_time=time(rule.end_time.hour - 1, rule.end_time.minute)))
    _assert_only_weber_recomputed(verified)


def test_approved_time_off_is_seen(verified):
    weber, day = _weber(), _weekday(verified, 3)
    with _quietly():
        db.session.add(TimeOff(organization_id=weber.organization_id, provider_id=weber.id,
                               start_at=_berlin(day, 0), end_at=_berlin(day + timedelta(days=1), 0),
                               status="approved"))
    _assert_only_weber_recomputed(verified)


def test_an_external_busy_time_is_seen(verified):
    weber, day = _weber(), _weekday(verified, 1)
    with _quietly():
        connection = CalendarConnection(organization_id=weber.organization_id, provider_id=weber.id, kind="ics",
                                        display_name="Personal")
        db.session.add(connection)
        db.session.flush()
        db.session.add(ExternalBusyTime(organization_id=weber.organization_id, provider_id=weber.id,
                                        connection_id=connection.id, external_uid="evt-1",
                                        start_at=_berlin(day, 10), end_at=_berlin(day, 11), updated_at=utcnow()))
    _assert_only_weber_recomputed(verified)


def test_a_changed_type_duration_is_seen_for_every_provider_offering_it(verified):
    kind = _consultation()
    offering = {p.id for p in kind.providers}
    providers = db.session.scalar(select(db.func.count()).select_from(Provider))
    with _quietly():
        db.session.execute(update(AppointmentType).where(AppointmentType.id == kind.id)
                           .values(duration_minutes=kind.duration_minutes + 15))
    report = reconcile(now=verified)
    assert report.skipped == providers - len(offering) and report.changed_rows > 0
    for provider_id in offering:
        assert_slots_match_engine(provider_id, *horizon(verified), now=verified)


def test_time_passing_the_first_slots_notice_is_seen(verified):
    weber = _weber()
    until = fingerprints.load([weber.id])[weber.id].valid_until
    assert until is not None and until > verified
    providers = db.session.scalar(select(db.func.count()).select_from(Provider))
    before = until - timedelta(seconds=1)
    if before.date() == verified.date():  # the same horizon: still valid just before
        assert reconcile([weber.id], now=before).skipped == 1
    later = until + timedelta(seconds=1)
    report = reconcile(now=later)
    assert report.skipped < providers and report.changed_rows > 0  # weber's first slot went
    assert_slots_match_engine(weber.id, *horizon(later), now=later)


def test_a_hold_expiring_is_seen(verified):
    weber, day = _weber(), _weekday(verified, 4)
    kind, start = _consultation(), _berlin(day, 9)
    expires = verified + timedelta(minutes=7)
    with write_transaction():  # triggers on: the hold's rows are written and verified below
        db.session.add(Booking(organization_id=weber.organization_id, provider_id=weber.id, appointment_type_id=kind.id,
                               location_id=weber.locations[0].id, guest_name="Test Guest", start_at=start,
                               end_at=start + timedelta(minutes=30), block_start_at=start,
                               block_end_at=start + timedelta(minutes=35), status="held", hold_expires_at=expires))
    reconcile([weber.id], now=verified)
    assert fingerprints.load([weber.id])[weber.id].valid_until <= expires
    after = expires + timedelta(seconds=1)
    report = reconcile([weber.id], now=after)
    assert report.skipped == 0 and report.changed_rows > 0  # the slot the hold took is open again
    assert_slots_match_engine(weber.id, *horizon(after), now=after)


def test_rows_changed_behind_the_engines_back_after_a_verified_run_are_repaired(verified):
    weber = _weber()
    first, last = horizon(verified)
    row = db.session.scalars(select(AvailabilitySlot).where(
        AvailabilitySlot.provider_id == weber.id, AvailabilitySlot.local_date >= first + timedelta(days=3),
        AvailabilitySlot.status == "open").order_by(AvailabilitySlot.start_at)).first()
    with write_transaction():
        db.session.execute(update(SLOTS).where(SLOTS.c.id == row.id).values(status="full", booked=1))
    report = reconcile([weber.id], now=verified)
    assert (report.skipped, report.changed_rows) == (0, 1)
    assert_slots_match_engine(weber.id, first, last, now=verified)


def test_lost_records_mean_recompute(verified):
    weber = _weber()
    fingerprints.forget([weber.id])
    report = reconcile([weber.id], now=verified)
    assert (report.skipped, report.changed_rows) == (0, 0)  # recomputed, found equal
    assert reconcile([weber.id], now=verified).skipped == 1  # and recorded again


def test_a_booking_horizon_ending_inside_the_range_holds_only_until_it_reaches_the_next_slot(verified):
    # Slots appear at the far end as time passes, with no input changing.
    kind, weber = _consultation(), _weber()
    providers = db.session.scalar(select(db.func.count()).select_from(Provider))
    with _quietly():
        db.session.execute(update(AppointmentType).where(AppointmentType.id == kind.id).values(max_future_days=10))
    assert reconcile(now=verified).changed_rows > 0
    assert reconcile(now=verified).skipped == providers
    until = fingerprints.load([weber.id])[weber.id].valid_until
    assert verified < until <= verified + timedelta(days=4)  # the horizon's next slot, within a weekend's reach
    later = until + timedelta(seconds=1)
    report = reconcile([weber.id], now=later)
    assert report.skipped == 0
    assert_slots_match_engine(weber.id, *horizon(later), now=later)
