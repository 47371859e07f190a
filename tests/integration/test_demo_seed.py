"""The demo clinic: what `flask demo seed` promises, and that a second run changes nothing."""
from __future__ import annotations

from sqlalchemy import func, inspect, select, table

from app import demo_seed
from app.accounts import find_user_by_email
from app.extensions import db
from app.models import (
    ROLES, AppointmentType, AvailabilityBreak, AvailabilityRule, Booking, Location, Organization, Provider, Room,
    User,
)


def _all(model):
    return list(db.session.scalars(select(model)))


def _row_counts() -> dict[str, int]:
    names = inspect(db.session.connection()).get_table_names()
    assert "bookings" in names and "users" in names
    return {name: db.session.scalar(select(func.count()).select_from(table(name))) for name in names}


def test_seed_creates_one_organization_with_a_location_in_each_of_two_zones(app, demo):
    with app.app_context():
        organizations = _all(Organization)
        assert [o.slug for o in organizations] == [demo_seed.DEMO_SLUG]
        locations = _all(Location)
        assert {(loc.name, loc.timezone) for loc in locations} == {
            ("Berlin Mitte", "Europe/Berlin"), ("New York Midtown", "America/New_York"),
        }
        rooms = _all(Room)
        assert {room.location_id for room in rooms} == {loc.id for loc in locations}  # rooms in both
        assert any(room.capacity > 1 for room in rooms)  # the group studio


def test_seed_gives_each_of_four_providers_weekly_hours_with_a_break(app, demo):
    with app.app_context():
        providers = _all(Provider)
        assert len(providers) == 4
        for provider in providers:
            rules = list(db.session.scalars(
                select(AvailabilityRule).where(AvailabilityRule.provider_id == provider.id)
            ))
            assert rules, provider.display_name
            assert all(rule.kind == "weekly" and rule.weekdays for rule in rules)
            breaks = db.session.scalar(
                select(func.count()).select_from(AvailabilityBreak)
                .where(AvailabilityBreak.rule_id.in_([rule.id for rule in rules]))
            )
            assert breaks >= 1, provider.display_name
            assert provider.timezone in {loc.timezone for loc in provider.locations}


def test_seed_creates_four_appointment_types_one_needing_approval_and_a_group_type(app, demo):
    with app.app_context():
        types = _all(AppointmentType)
        assert len(types) == 4
        assert sum(t.requires_approval for t in types) == 1
        assert any(t.seats > 1 for t in types)
        assert all(t.providers for t in types)  # every type can be booked with somebody


def test_seed_creates_a_user_for_every_role_and_every_listed_demo_login(app, demo):
    with app.app_context():
        assert {user.role for user in _all(User)} == set(ROLES)
        for role, email in demo_seed.DEMO_LOGINS:
            user = find_user_by_email(email)
            assert user is not None and user.role == role, email
            assert user.password_hash.startswith("$argon2id$")
            if role == "provider":
                assert user.provider_id is not None


def test_seed_creates_bookings_in_at_least_five_statuses(app, demo):
    with app.app_context():
        statuses = {booking.status for booking in _all(Booking)}
    assert len(statuses) >= 5, statuses
    assert {"pending", "confirmed", "cancelled"} <= statuses


def test_running_the_seed_twice_returns_false_and_changes_no_row_counts(app, demo):
    with app.app_context():
        before = _row_counts()
        assert before["organizations"] == 1
        assert demo_seed.seed_demo() is False
    with app.app_context():
        assert _row_counts() == before


def test_the_demo_week_gives_every_staff_page_something_real_and_runs_once(app, demo):
    from datetime import timedelta

    from app.demo_seed import WEEK_MARKER_GUEST, seed_demo_week
    from app.models import AvailabilityException, Booking, TimeOff

    with app.app_context():
        assert seed_demo_week() is True
        counts = {model: db.session.scalar(select(func.count()).select_from(model))
                  for model in (Booking, AvailabilityException, TimeOff)}
        assert seed_demo_week() is False  # idempotent: nothing changes
        assert {model: db.session.scalar(select(func.count()).select_from(model)) for model in counts} == counts
        statuses = set(db.session.scalars(select(Booking.status)))
        assert statuses >= {"held", "pending", "confirmed", "declined", "cancelled", "expired", "completed",
                            "no_show"}
        pending_for = set(db.session.scalars(select(Booking.provider_id).where(Booking.status == "pending")))
        assert len(pending_for) >= 2
        assert db.session.scalar(select(func.count()).select_from(AvailabilityException).where(
            AvailabilityException.status == "blocked")) >= 1
        off = db.session.scalars(select(TimeOff).where(TimeOff.status == "approved")).one()
        assert off.end_at - off.start_at >= timedelta(days=2)
        inside = db.session.scalar(select(func.count()).select_from(Booking).where(
            Booking.provider_id == off.provider_id, Booking.status == "confirmed",
            Booking.start_at < off.end_at, Booking.end_at > off.start_at))
        assert inside == 1
        guest = db.session.scalars(select(Booking).where(Booking.guest_name == WEEK_MARKER_GUEST)).first()
        assert guest.guest_phone and guest.guest_phone_index
