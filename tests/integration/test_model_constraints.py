"""The database itself refuses impossible rows (CHECK constraints), and instants are always aware UTC."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, table
from sqlalchemy.exc import IntegrityError, StatementError

from app import crypto
from app.extensions import db
from app.models import (
    AppointmentType, AvailabilitySlot, Booking, Location, Organization, Provider, Room, TimeOff, User,
)

START = datetime(2031, 3, 4, 9, 0, tzinfo=timezone.utc)


@dataclass
class Clinic:
    org: Organization
    location: Location
    provider: Provider
    kind: AppointmentType


def _clinic() -> Clinic:
    location = db.session.scalars(select(Location).where(Location.name == "Berlin Mitte")).one()
    provider = db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Anna Weber")).one()
    kind = db.session.scalars(select(AppointmentType).where(AppointmentType.name == "General consultation")).one()
    return Clinic(db.session.get(Organization, location.organization_id), location, provider, kind)


def _booking(c: Clinic, **overrides) -> Booking:
    values = dict(
        organization_id=c.org.id, guest_name="Gina Guest", provider_id=c.provider.id,
        appointment_type_id=c.kind.id, location_id=c.location.id, start_at=START,
        end_at=START + timedelta(minutes=30), block_start_at=START, block_end_at=START + timedelta(minutes=30),
        status="confirmed", source="staff",
    )
    return Booking(**{**values, **overrides})


def _user(c: Clinic, **overrides) -> User:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    values = dict(organization_id=c.org.id, email=email, email_index=crypto.email_index(email),
                  password_hash="$argon2id$not-a-real-hash", role="admin", full_name="Constraint Test")
    return User(**{**values, **overrides})


def _slot(c: Clinic, **overrides) -> AvailabilitySlot:
    values = dict(organization_id=c.org.id, provider_id=c.provider.id, appointment_type_id=c.kind.id,
                  location_id=c.location.id, start_at=START, end_at=START + timedelta(minutes=30),
                  local_date=date(2031, 3, 4), capacity=1)
    return AvailabilitySlot(**{**values, **overrides})


def _time_off(c: Clinic, **overrides) -> TimeOff:
    values = dict(organization_id=c.org.id, provider_id=c.provider.id, start_at=START, end_at=START + timedelta(days=1))
    return TimeOff(**{**values, **overrides})


def _count(name: str) -> int:
    return db.session.scalar(select(func.count()).select_from(table(name)))


@pytest.mark.parametrize(
    ("table_name", "make_valid", "make_invalid"),
    [
        # a visit that ends when it starts
        ("bookings", lambda c: _booking(c), lambda c: _booking(c, end_at=START, block_end_at=START)),
        # a status outside the booking state machine
        ("bookings", lambda c: _booking(c), lambda c: _booking(c, status="bogus")),
        # a room nobody fits into
        ("rooms", lambda c: Room(organization_id=c.org.id, location_id=c.location.id, name="Room 9"),
         lambda c: Room(organization_id=c.org.id, location_id=c.location.id, name="Room 0", capacity=0)),
        # an appointment type with no seats
        ("appointment_types",
         lambda c: AppointmentType(organization_id=c.org.id, name="Valid", duration_minutes=15),
         lambda c: AppointmentType(organization_id=c.org.id, name="Seatless", duration_minutes=15, seats=0)),
        # a role the app does not know
        ("users", lambda c: _user(c), lambda c: _user(c, role="superuser")),
        # a provider account that is not linked to any provider
        ("users", lambda c: _user(c, role="provider", provider_id=c.provider.id),
         lambda c: _user(c, role="provider", provider_id=None)),
        # a materialized slot with room for nobody
        ("availability_slots", lambda c: _slot(c), lambda c: _slot(c, capacity=0)),
        # time off that ends before it starts
        ("time_off", lambda c: _time_off(c), lambda c: _time_off(c, end_at=START - timedelta(hours=1))),
    ],
    ids=["booking-ends-at-start", "booking-bogus-status", "room-capacity-0", "type-seats-0", "user-superuser",
         "provider-user-unlinked", "slot-capacity-0", "time-off-backwards"],
)
def test_database_refuses_rows_that_break_check_constraints(app, demo, table_name, make_valid, make_invalid):
    with app.app_context():
        clinic = _clinic()
        before = _count(table_name)
        with pytest.raises(IntegrityError):
            with db.session.begin_nested():
                db.session.add(make_invalid(clinic))
        assert _count(table_name) == before
        # the same row made valid is accepted: the refusal was the constraint, not the test data
        with db.session.begin_nested():
            db.session.add(make_valid(clinic))
        assert _count(table_name) == before + 1


def test_a_naive_datetime_is_refused_before_it_reaches_the_database(app, demo):
    with app.app_context():
        clinic = _clinic()
        before = _count("time_off")
        with pytest.raises(StatementError) as raised:
            with db.session.begin_nested():
                db.session.add(_time_off(clinic, start_at=datetime(2031, 3, 4, 9, 0),
                                         end_at=datetime(2031, 3, 4, 17, 0)))
        assert isinstance(raised.value.orig, ValueError)
        assert "naive datetime" in str(raised.value)
        assert _count("time_off") == before


@pytest.mark.parametrize(
    "offset",
    [
        timedelta(hours=2),  # Central European summer time, ahead of UTC
        timedelta(hours=-5),  # New York winter time, behind UTC
        timedelta(hours=5, minutes=30),  # a half-hour zone
        timedelta(0),  # already UTC
    ],
)
def test_instants_come_back_as_the_same_aware_utc_instant(app, demo, offset):
    start = datetime(2031, 6, 1, 10, 0, tzinfo=timezone(offset))
    with app.app_context():
        time_off = _time_off(_clinic(), start_at=start, end_at=start + timedelta(hours=8))
        db.session.add(time_off)
        db.session.commit()
        time_off_id = time_off.id
    with app.app_context():  # a fresh session: values come from the database, not the identity map
        stored = db.session.get(TimeOff, time_off_id)
        assert stored.start_at == start
        assert stored.end_at == start + timedelta(hours=8)
        assert stored.start_at.tzinfo is timezone.utc
        assert stored.start_at.replace(tzinfo=None) == (start - offset).replace(tzinfo=None)
