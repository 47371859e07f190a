"""The booking lifecycle as a Hypothesis state machine, on SQLite and PostgreSQL.

Random sequences of hold / confirm / accept / decline / cancel / reschedule /
expire-job / clock advances run against two providers of the demo clinic (Jonas
Fischer and Dr. Anna Weber) and two types: the one-to-one "Physiotherapy
session" (needs approval, so confirm leads to pending and accept/decline
matter), which both offer and which uses one shared treatment room of
capacity 1 (its default room), and Fischer's six-seat "Back-care group class",
on a handful of overlapping afternoon starts. After every step:

(a) no overbooking: live bookings (holds only until they expire) never overlap,
    except people in one group session, and a session never exceeds its seats;
    the shared room never holds more live bookings at once than its capacity;
(b) the slots table equals a fresh engine run (invariant 2);
(c) every booking has one of the eight statuses and its events chain from
    status to status, ending in the booking's status.

The clock `now` starts at the real time and only moves forward, by at most 20
minutes a step: the slots table is recomputed at commit with the real clock, so
the times used lie days ahead and every hold's expiry stays in the real future.
Refusals (BookwellError 403/404/409) are normal outcomes of a rule; any other
exception fails the test. Each example runs inside a SAVEPOINT that is rolled
back, so examples start from the same freshly seeded clinic.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule, run_state_machine_as_test
from sqlalchemy import select

from app.booking import lifecycle
from app.booking.hold import Contact, hold
from app.errors import BookwellError
from app.extensions import db
from app.database import write_transaction
from app.models import BOOKING_STATUSES, AppointmentType, Booking, BookingEvent, Provider, Room, utcnow
from tests.integration.booking_helpers import (
    Clinic, assert_never_overbooked, assert_room_never_overbooked, at, day_ahead, load_clinic, window,
)
from tests.integration.helpers import seed_demo_clinic
from tests.slot_assertions import assert_slots_match_engine

EXPECTED_REFUSALS = {403, 404, 409}
# Fischer works 13:30–17:00 on Wednesdays: physio (45 min, 5 before, 10 after) and the
# hourly group class overlap each other at these starts; 14:00 is off both grids.
PHYSIO_STARTS = ("13:30", "14:15", "15:00", "15:45", "14:00")
GROUP_STARTS = ("13:30", "14:30", "15:30", "14:00")
# Weber works 13:00–16:00 on Wednesday afternoons: her physio grid starts at 13:00.
WEBER_PHYSIO_STARTS = ("13:00", "13:45", "14:30", "15:15", "13:30")


class BookingLifecycle(RuleBasedStateMachine):
    clinic: Clinic  # set by the test
    connection = None
    shared_room: uuid.UUID  # set by the test

    bookings = Bundle("bookings")

    def __init__(self):
        super().__init__()
        db.session.close()
        self.savepoint = self.connection.begin_nested()
        self.now = utcnow()
        self.day = day_ahead(3)
        self.tokens: dict[uuid.UUID, str | None] = {}  # hold tokens of guest bookings
        self.owners: dict[uuid.UUID, str] = {}  # "guest" or "patient"

    def teardown(self):
        db.session.close()
        self.savepoint.rollback()

    # --- helpers ------------------------------------------------------------------------------

    def _type(self, kind: str) -> uuid.UUID:
        return self.clinic.physio if kind == "physio" else self.clinic.group

    def _attempt(self, call, *args, **kwargs):
        """Run one service call; an expected refusal returns None, anything else fails."""
        try:
            return call(*args, **kwargs)
        except BookwellError as error:
            assert error.status in EXPECTED_REFUSALS, (error.status, error.code, error.message)
            return None

    def _owner_actor(self, booking_id: uuid.UUID):
        return self.clinic.actor("patient") if self.owners[booking_id] == "patient" else self.clinic.guest()

    # --- rules --------------------------------------------------------------------------------

    def _starts(self, kind: str, provider: str) -> tuple[str, ...]:
        if kind == "group":
            return GROUP_STARTS
        return WEBER_PHYSIO_STARTS if provider == "weber" else PHYSIO_STARTS

    @rule(target=bookings, kind=st.sampled_from(["physio", "group"]), index=st.integers(0, 4),
          who=st.sampled_from(["guest", "patient"]), provider=st.sampled_from(["fischer", "weber"]))
    def hold_a_time(self, kind, index, who, provider="fischer"):
        provider = "fischer" if kind == "group" else provider
        starts = self._starts(kind, provider)
        actor = self.clinic.guest() if who == "guest" else self.clinic.actor("patient")
        contact = Contact(name="Sam Guest", email="sam@example.com") if who == "guest" else None
        result = self._attempt(hold, actor, provider_id=getattr(self.clinic, provider),
                               appointment_type_id=self._type(kind),
                               start=at(self.day, starts[index % len(starts)]), contact=contact, now=self.now)
        if result is None:
            return multiple()
        booking_id = result.booking.id
        self.owners[booking_id] = who
        self.tokens[booking_id] = result.hold_token
        return booking_id

    @rule(target=bookings, kind=st.sampled_from(["physio", "group"]), index=st.integers(0, 4),
          provider=st.sampled_from(["fischer", "weber"]))
    def hold_and_confirm(self, kind, index, provider):
        """A patient who confirms at once: makes pending and confirmed bookings common."""
        booking_id = self.hold_a_time(kind, index, "patient", provider)
        if isinstance(booking_id, uuid.UUID):
            self.confirm(booking_id, with_token=False)
        return booking_id

    @rule(booking_id=bookings, with_token=st.booleans())
    def confirm(self, booking_id, with_token):
        token = self.tokens[booking_id] if with_token else None
        self._attempt(lifecycle.confirm, self._owner_actor(booking_id), booking_id, hold_token=token, now=self.now)

    @rule(booking_id=bookings, who=st.sampled_from(["frontdesk", "fischer", "weber", "patient"]))
    def accept(self, booking_id, who):
        self._attempt(lifecycle.accept, self.clinic.actor(who), booking_id, now=self.now)

    @rule(booking_id=bookings, who=st.sampled_from(["frontdesk", "fischer"]))
    def decline(self, booking_id, who):
        self._attempt(lifecycle.decline, self.clinic.actor(who), booking_id, now=self.now)

    @rule(booking_id=bookings, by_owner=st.booleans())
    def cancel(self, booking_id, by_owner):
        actor = self._owner_actor(booking_id) if by_owner else self.clinic.actor("frontdesk")
        token = self.tokens[booking_id] if by_owner else None
        self._attempt(lifecycle.cancel, actor, booking_id, hold_token=token, now=self.now)

    @rule(booking_id=bookings, index=st.integers(0, 4), by_owner=st.booleans())
    def reschedule(self, booking_id, index, by_owner):
        booking = db.session.get(Booking, booking_id)
        kind = "physio" if booking.appointment_type_id == self.clinic.physio else "group"
        starts = self._starts(kind, "weber" if booking.provider_id == self.clinic.weber else "fischer")
        if by_owner and self.owners[booking_id] == "patient":
            actor = self.clinic.actor("patient")
        else:
            actor = self.clinic.actor("frontdesk")
        self._attempt(lifecycle.reschedule, actor, booking_id, start=at(self.day, starts[index % len(starts)]),
                      now=self.now)

    @rule(minutes=st.integers(1, 20))
    def advance_clock(self, minutes):
        self.now += timedelta(minutes=minutes)

    @rule()
    def run_the_expire_job(self):
        lifecycle.expire_holds(now=self.now)

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def never_overbooked(self):
        assert_never_overbooked(self.clinic.fischer, self.now)
        assert_never_overbooked(self.clinic.weber, self.now)
        assert_room_never_overbooked(self.shared_room, self.now)

    @invariant()
    def slots_table_matches_the_engine(self):
        assert_slots_match_engine(self.clinic.fischer, *window())
        assert_slots_match_engine(self.clinic.weber, *window())

    @invariant()
    def statuses_are_valid_and_events_chain(self):
        statuses = dict(db.session.execute(select(Booking.id, Booking.status)).all())
        trails: dict[uuid.UUID, list[tuple]] = {}
        for booking_id, action, before, after in db.session.execute(
                select(BookingEvent.booking_id, BookingEvent.action, BookingEvent.from_status,
                       BookingEvent.to_status).order_by(BookingEvent.created_at, BookingEvent.id)):
            trails.setdefault(booking_id, []).append((action, before, after))
        for booking_id, status in statuses.items():
            assert status in BOOKING_STATUSES
            trail = trails.get(booking_id)
            assert trail and trail[0][1] is None, (booking_id, trail)
            for (_, _, ended), (_, began, _) in zip(trail, trail[1:]):
                assert began == ended, (booking_id, trail)
            assert trail[-1][2] == status, (booking_id, status, trail)


def _share_a_treatment_room(clinic: Clinic) -> uuid.UUID:
    """Weber offers physiotherapy too, and the type's default room (capacity 1) is shared."""
    with write_transaction():
        room = Room(organization_id=clinic.organization_id, location_id=clinic.berlin_id, name="Shared treatment room",
                    capacity=1)
        db.session.add(room)
        db.session.flush()
        physio = db.session.get(AppointmentType, clinic.physio)
        physio.default_room_id = room.id
        physio.providers.append(db.session.get(Provider, clinic.weber))
    return room.id


def test_random_booking_lifecycles_keep_the_invariants(app, db_session, monkeypatch):
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        BookingLifecycle.clinic = load_clinic()
        BookingLifecycle.shared_room = _share_a_treatment_room(BookingLifecycle.clinic)
        BookingLifecycle.connection = db.session.get_bind()
        run_state_machine_as_test(BookingLifecycle, settings=settings(
            max_examples=20, stateful_step_count=15, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
