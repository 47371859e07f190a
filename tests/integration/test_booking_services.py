"""The booking services (hold, confirm, accept, decline, cancel, reschedule, complete,
no-show, expire) against the demo clinic, on SQLite and PostgreSQL.

Every change is checked three ways: the booking's own state, exactly one new
BookingEvent saying who did what from which status to which, and the slots
table agreeing with a fresh engine run (invariant 2). Every refusal is checked
to write nothing. Clocks are injected with `now=`: nothing sleeps.
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from app.accounts import find_user_by_email
from app.booking import lifecycle
from app.booking.hold import Contact, hold
from app.database import write_transaction
from app.errors import BookwellError
from app.extensions import db
from app.models import AppointmentType, Booking, Organization, new_id, utcnow
from tests.integration.booking_helpers import (
    Clinic,
    assert_event_chain,
    assert_never_overbooked,
    assert_slots_true,
    at,
    day_ahead,
    events_of,
    fresh,
    is_open,
    load_clinic,
    row_counts,
    slot_row,
    snapshot,
)
from tests.integration.helpers import seed_demo_clinic

GINA = Contact(name="Gina Guest", email="gina@example.com")
DOMAIN = "riverside.example"


@pytest.fixture
def clinic(app, db_session, monkeypatch) -> Clinic:
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        yield load_clinic()


@pytest.fixture
def wednesday():
    """3–9 days ahead: Weber is free all day, Fischer has no group class."""
    return day_ahead(3)


def consult(clinic: Clinic, actor, start, now=None, **extra):
    contact = extra.pop("contact", None if actor.role == "patient" else GINA)
    return hold(actor, provider_id=clinic.weber, appointment_type_id=clinic.consult, start=start, now=now,
                contact=contact, **extra)


def physio(clinic: Clinic, actor, start, now=None):
    contact = None if actor.role == "patient" else GINA
    return hold(actor, provider_id=clinic.fischer, appointment_type_id=clinic.physio, start=start, now=now,
                contact=contact)


def refused(status: int, code: str, call, *args, **kwargs) -> BookwellError:
    """`call` raises this BookwellError and leaves bookings, events and slots untouched."""
    before = snapshot()
    with pytest.raises(BookwellError) as caught:
        call(*args, **kwargs)
    assert (caught.value.status, caught.value.code) == (status, code), (caught.value.code, caught.value.message)
    assert snapshot() == before
    return caught.value


def one_new_event(booking_id, before: int, action: str, from_status, to_status, actor) -> None:
    trail = events_of(booking_id)
    assert len(trail) == before + 1, [(e.action, e.from_status, e.to_status) for e in trail]
    last = trail[-1]
    assert (last.action, last.from_status, last.to_status) == (action, from_status, to_status)
    assert (last.actor_id, last.actor_role) == (actor.user_id, actor.role)


def confirmed_consult(clinic: Clinic, start, actor=None):
    actor = actor or clinic.actor("patient")
    result = consult(clinic, actor, start)
    lifecycle.confirm(actor, result.booking.id, hold_token=result.hold_token)
    return fresh(result.booking.id)


def pending_physio(clinic: Clinic, start):
    patient = clinic.actor("patient")
    result = physio(clinic, patient, start)
    lifecycle.confirm(patient, result.booking.id)
    booking = fresh(result.booking.id)
    assert booking.status == "pending"
    return booking


# --- hold -----------------------------------------------------------------------------------------

def test_hold_creates_a_held_booking_with_expiry_hashed_token_and_event(clinic, wednesday):
    with write_transaction():  # the organization's own hold time is used, not the default
        db.session.get(Organization, clinic.organization_id).hold_minutes = 7
    start, now, patient = at(wednesday, "09:00"), utcnow(), clinic.actor("patient")
    assert is_open(clinic.weber, clinic.consult, start)

    result = consult(clinic, patient, start, now=now)

    booking = fresh(result.booking.id)
    assert (booking.status, booking.start_at, booking.end_at) == ("held", start, start + timedelta(minutes=30))
    assert (booking.block_start_at, booking.block_end_at) == (start, start + timedelta(minutes=35))
    assert booking.hold_expires_at == now + timedelta(minutes=7)
    assert booking.patient_id == patient.user_id and booking.guest_name is None
    assert len(result.hold_token) >= 32
    assert booking.hold_token_hash == hashlib.sha256(result.hold_token.encode()).hexdigest()
    stored = db.session.execute(select(Booking.__table__).where(Booking.id == booking.id)).one()
    assert result.hold_token not in [str(value) for value in stored]
    assert consult(clinic, patient, at(wednesday, "10:00")).hold_token != result.hold_token  # random per hold
    [event] = events_of(booking.id)
    assert (event.action, event.from_status, event.to_status) == ("held", None, "held")
    assert (event.actor_id, event.actor_role) == (patient.user_id, "patient")
    assert not is_open(clinic.weber, clinic.consult, start)
    assert slot_row(clinic.weber, clinic.consult, start).held == 1
    assert_slots_true(clinic.weber)


@pytest.mark.parametrize("second", [
    "09:00",  # the very same start
    "09:30",  # starts inside the first visit's 5-minute buffer
    "08:30",  # its own buffer runs into the first visit
])
def test_a_second_hold_on_a_taken_one_to_one_time_is_slot_full_and_writes_nothing(clinic, wednesday, second):
    consult(clinic, clinic.actor("patient"), at(wednesday, "09:00"))
    error = refused(409, "SLOT_FULL", consult, clinic, clinic.actor("olivia"), at(wednesday, second))
    assert "choose another" in error.message
    assert_slots_true(clinic.weber)


@pytest.mark.parametrize(("day_offset", "hhmm"), [
    (0, "09:10"),  # between two grid points
    (0, "07:30"),  # before opening
    (0, "15:45"),  # the visit would run past closing at 16:00
    (0, "12:00"),  # in the lunch break
    (3, "10:00"),  # a Saturday: no hours at all
])
def test_a_start_off_the_grid_or_outside_hours_is_slot_unavailable(clinic, wednesday, day_offset, hhmm):
    start = at(wednesday + timedelta(days=day_offset), hhmm)
    refused(409, "SLOT_UNAVAILABLE", consult, clinic, clinic.actor("patient"), start)


@pytest.mark.parametrize(("offset", "rule", "phrase"), [
    (timedelta(minutes=60), "min_notice", "at least 2 hours ahead"),  # inside the 2 h notice
    (timedelta(minutes=-30), "in_past", "already passed"),  # a time that has passed
    (timedelta(days=61), "max_future_days", "at most 60 days ahead"),  # beyond 60 days
])
def test_booking_window_policies_are_409_policy_violation_with_a_readable_message(
        clinic, wednesday, offset, rule, phrase):
    start = at(wednesday, "09:00")
    error = refused(409, "POLICY_VIOLATION", consult, clinic, clinic.actor("patient"), start, now=start - offset)
    assert error.details["rule"] == rule
    assert phrase in error.message


def test_a_guest_hold_needs_a_name(clinic, wednesday):
    refused(422, "VALIDATION_ERROR", consult, clinic, clinic.guest(), at(wednesday, "09:00"), contact=None)


# --- confirm --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "expected"), [("consult", "confirmed"), ("physio", "pending")])
def test_confirm_with_the_token_confirms_instant_types_and_requests_approval_types(clinic, wednesday, kind, expected):
    guest = clinic.guest()
    if kind == "consult":
        result, provider = consult(clinic, guest, at(wednesday, "09:00")), clinic.weber
    else:
        result, provider = physio(clinic, guest, at(wednesday, "14:15")), clinic.fischer
    assert result.booking.guest_name == "Gina Guest"

    booking = lifecycle.confirm(guest, result.booking.id, hold_token=result.hold_token, notes="Back pain")

    booking = fresh(booking.id)
    assert booking.status == expected and booking.notes == "Back pain"
    assert (booking.confirmed_at is not None) == (expected == "confirmed")
    one_new_event(booking.id, 1, "confirmed", "held", expected, guest)
    assert not is_open(provider, booking.appointment_type_id, booking.start_at)
    assert_slots_true(provider)


def test_a_patient_confirms_their_own_hold_without_the_token(clinic, wednesday):
    patient = clinic.actor("patient")
    result = consult(clinic, patient, at(wednesday, "09:00"))
    assert lifecycle.confirm(patient, result.booking.id).status == "confirmed"


@pytest.mark.parametrize(("who", "token", "status", "code"), [
    ("frontdesk", "wrong", 403, "FORBIDDEN"),  # staff must present the right token
    ("frontdesk", None, 403, "FORBIDDEN"),  # ... and some token
    ("guest", "wrong", 404, "NOT_FOUND"),  # a guest with a wrong token learns nothing about the booking
    ("guest", None, 404, "NOT_FOUND"),
    ("olivia", None, 404, "NOT_FOUND"),  # another patient's hold does not exist for her
])
def test_confirm_without_the_right_token_is_refused_and_changes_nothing(clinic, wednesday, who, token, status, code):
    result = consult(clinic, clinic.guest(), at(wednesday, "09:00"))
    actor = clinic.guest() if who == "guest" else clinic.actor(who)
    refused(status, code, lifecycle.confirm, actor, result.booking.id, hold_token=token)
    assert fresh(result.booking.id).status == "held"


def test_confirm_after_the_hold_expired_is_409_hold_expired(clinic, wednesday):
    now = utcnow()
    result = consult(clinic, clinic.guest(), at(wednesday, "09:00"), now=now)
    error = refused(409, "HOLD_EXPIRED", lifecycle.confirm, clinic.guest(), result.booking.id,
                    hold_token=result.hold_token, now=now + timedelta(minutes=10))  # expiry is exclusive
    assert "hold_expires_at" in error.details


def test_confirm_twice_is_invalid_transition(clinic, wednesday):
    result = consult(clinic, clinic.guest(), at(wednesday, "09:00"))
    lifecycle.confirm(clinic.guest(), result.booking.id, hold_token=result.hold_token)
    refused(409, "INVALID_TRANSITION", lifecycle.confirm, clinic.guest(), result.booking.id,
            hold_token=result.hold_token)


def _stale_hold_then_another_patient(clinic, wednesday):
    now, start = utcnow(), at(wednesday, "09:00")
    first = consult(clinic, clinic.guest(), start, now=now)
    later = now + timedelta(minutes=11)
    second = consult(clinic, clinic.actor("olivia"), start, now=later)  # the expired hold does not block
    return first, second, later


def test_a_stale_hold_cannot_be_confirmed_after_it_expired_and_another_patient_took_the_time(clinic, wednesday):
    first, second, later = _stale_hold_then_another_patient(clinic, wednesday)
    before = snapshot()
    with pytest.raises(BookwellError) as caught:
        lifecycle.confirm(clinic.guest(), first.booking.id, hold_token=first.hold_token, now=later)
    assert caught.value.status == 409
    assert snapshot() == before
    assert fresh(first.booking.id).status == "expired"
    assert fresh(second.booking.id).status == "held"
    assert [e.action for e in events_of(first.booking.id)] == ["held", "expired"]
    assert_never_overbooked(clinic.weber, later)
    assert_slots_true(clinic.weber)


def test_confirming_a_stale_hold_that_cleanup_already_expired_says_hold_expired(clinic, wednesday):
    first, _second, later = _stale_hold_then_another_patient(clinic, wednesday)
    refused(409, "HOLD_EXPIRED", lifecycle.confirm, clinic.guest(), first.booking.id,
            hold_token=first.hold_token, now=later)


# --- accept / decline -----------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["fischer", "frontdesk", "manager"])
def test_the_provider_front_desk_and_manager_accept_a_request(clinic, wednesday, who):
    booking = pending_physio(clinic, at(wednesday, "14:15"))
    actor = clinic.actor(who)
    now = utcnow()
    lifecycle.accept(actor, booking.id, now=now)
    booking = fresh(booking.id)
    assert booking.status == "confirmed" and booking.confirmed_at == now
    one_new_event(booking.id, 2, "accepted", "pending", "confirmed", actor)
    assert not is_open(clinic.fischer, clinic.physio, booking.start_at)
    assert_slots_true(clinic.fischer)


@pytest.mark.parametrize("who", ["fischer", "frontdesk", "manager"])
def test_declining_a_request_frees_its_time(clinic, wednesday, who):
    booking = pending_physio(clinic, at(wednesday, "14:15"))
    assert not is_open(clinic.fischer, clinic.physio, booking.start_at)
    actor = clinic.actor(who)
    lifecycle.decline(actor, booking.id, reason="Fully booked")
    booking = fresh(booking.id)
    assert booking.status == "declined" and booking.cancel_reason == "Fully booked"
    one_new_event(booking.id, 2, "declined", "pending", "declined", actor)
    assert is_open(clinic.fischer, clinic.physio, booking.start_at)
    assert_slots_true(clinic.fischer)


@pytest.mark.parametrize("action", ["accept", "decline"])
@pytest.mark.parametrize(("who", "status", "code"), [
    ("patient", 403, "FORBIDDEN"),  # even the patient of the request cannot decide on it
    ("weber", 404, "NOT_FOUND"),  # a provider does not see another provider's bookings
])
def test_only_the_clinic_decides_on_a_request(clinic, wednesday, action, who, status, code):
    booking = pending_physio(clinic, at(wednesday, "14:15"))
    refused(status, code, getattr(lifecycle, action), clinic.actor(who), booking.id)


def test_accepting_a_confirmed_booking_is_invalid_transition(clinic, wednesday):
    booking = confirmed_consult(clinic, at(wednesday, "09:00"))
    refused(409, "INVALID_TRANSITION", lifecycle.accept, clinic.actor("frontdesk"), booking.id)


# --- cancel ---------------------------------------------------------------------------------------

def test_a_patient_cannot_cancel_inside_the_24h_notice(clinic, wednesday):
    booking = confirmed_consult(clinic, at(wednesday, "09:00"))
    error = refused(409, "POLICY_VIOLATION", lifecycle.cancel, clinic.actor("patient"), booking.id,
                    now=booking.start_at - timedelta(hours=23))
    assert error.details["rule"] == "cancel_notice" and "1 day before" in error.message


@pytest.mark.parametrize(("who", "ahead", "cancelled_by"), [
    ("patient", timedelta(hours=25), "patient"),  # outside the notice
    ("frontdesk", timedelta(hours=1), "staff"),  # staff at any time
    ("weber", timedelta(minutes=5), "staff"),  # the provider too
])
def test_a_cancellation_within_policy_frees_the_time(clinic, wednesday, who, ahead, cancelled_by):
    booking = confirmed_consult(clinic, at(wednesday, "09:00"))
    assert not is_open(clinic.weber, clinic.consult, booking.start_at)
    actor = clinic.actor(who)
    lifecycle.cancel(actor, booking.id, reason="Cannot make it", now=booking.start_at - ahead)
    booking = fresh(booking.id)
    assert (booking.status, booking.cancelled_by, booking.cancel_reason) == ("cancelled", cancelled_by,
                                                                             "Cannot make it")
    one_new_event(booking.id, 2, "cancelled", "confirmed", "cancelled", actor)
    assert is_open(clinic.weber, clinic.consult, booking.start_at)
    assert_slots_true(clinic.weber)


def test_a_guest_cancels_a_hold_with_its_token(clinic, wednesday):
    result = consult(clinic, clinic.guest(), at(wednesday, "09:00"))
    refused(404, "NOT_FOUND", lifecycle.cancel, clinic.guest(), result.booking.id, hold_token="wrong")
    lifecycle.cancel(clinic.guest(), result.booking.id, hold_token=result.hold_token)
    assert fresh(result.booking.id).status == "cancelled"
    assert is_open(clinic.weber, clinic.consult, result.booking.start_at)
    assert_slots_true(clinic.weber)


def test_cancelling_a_cancelled_booking_is_invalid_transition(clinic, wednesday):
    booking = confirmed_consult(clinic, at(wednesday, "09:00"))
    lifecycle.cancel(clinic.actor("frontdesk"), booking.id)
    refused(409, "INVALID_TRANSITION", lifecycle.cancel, clinic.actor("frontdesk"), booking.id)


# --- reschedule -----------------------------------------------------------------------------------

def test_reschedule_moves_atomically_and_records_from_and_to(clinic, wednesday):
    booking = confirmed_consult(clinic, at(wednesday, "09:00"))
    old, new, patient = booking.start_at, at(wednesday, "11:00"), clinic.actor("patient")
    assert is_open(clinic.weber, clinic.consult, new)

    lifecycle.reschedule(patient, booking.id, start=new)

    booking = fresh(booking.id)
    assert (booking.status, booking.start_at, booking.reschedule_count) == ("confirmed", new, 1)
    assert (booking.block_start_at, booking.block_end_at) == (new, new + timedelta(minutes=35))
    one_new_event(booking.id, 2, "rescheduled", "confirmed", "confirmed", patient)
    data = events_of(booking.id)[-1].data
    assert data["from"]["start"] == old.isoformat() and data["to"]["start"] == new.isoformat()
    assert is_open(clinic.weber, clinic.consult, old)
    assert not is_open(clinic.weber, clinic.consult, new)
    assert_slots_true(clinic.weber)


def test_reschedule_to_a_taken_time_is_409_and_the_booking_stays_put(clinic, wednesday):
    booking = confirmed_consult(clinic, at(wednesday, "09:00"))
    confirmed_consult(clinic, at(wednesday, "11:00"), actor=clinic.actor("olivia"))
    refused(409, "SLOT_FULL", lifecycle.reschedule, clinic.actor("patient"), booking.id, start=at(wednesday, "11:00"))
    refused(409, "SLOT_UNAVAILABLE", lifecycle.reschedule, clinic.actor("patient"), booking.id,
            start=at(wednesday, "12:00"))  # the lunch break
    assert fresh(booking.id).start_at == at(wednesday, "09:00")
    assert_slots_true(clinic.weber)


def test_a_patient_may_move_a_booking_at_most_max_reschedules_times(clinic, wednesday):
    booking = confirmed_consult(clinic, at(wednesday, "09:00"))
    patient = clinic.actor("patient")
    lifecycle.reschedule(patient, booking.id, start=at(wednesday, "10:00"))
    lifecycle.reschedule(patient, booking.id, start=at(wednesday, "11:00"))
    error = refused(409, "POLICY_VIOLATION", lifecycle.reschedule, patient, booking.id, start=at(wednesday, "14:00"))
    assert error.details["rule"] == "max_reschedules" and "2 times" in error.message
    lifecycle.reschedule(clinic.actor("frontdesk"), booking.id, start=at(wednesday, "14:00"))  # staff may
    assert fresh(booking.id).reschedule_count == 3
    assert_slots_true(clinic.weber)


def test_a_type_that_patients_may_not_move_is_still_movable_by_staff(clinic, wednesday):
    with write_transaction():
        db.session.get(AppointmentType, clinic.consult).allow_patient_reschedule = False
    booking = confirmed_consult(clinic, at(wednesday, "09:00"))
    error = refused(409, "POLICY_VIOLATION", lifecycle.reschedule, clinic.actor("patient"), booking.id,
                    start=at(wednesday, "10:00"))
    assert error.details["rule"] == "reschedule_not_allowed"
    lifecycle.reschedule(clinic.actor("frontdesk"), booking.id, start=at(wednesday, "10:00"))
    assert fresh(booking.id).start_at == at(wednesday, "10:00")
    assert_slots_true(clinic.weber)


def test_a_patient_cannot_move_inside_the_notice(clinic, wednesday):
    booking = confirmed_consult(clinic, at(wednesday, "09:00"))
    refused(409, "POLICY_VIOLATION", lifecycle.reschedule, clinic.actor("patient"), booking.id,
            start=at(wednesday, "10:00"), now=booking.start_at - timedelta(hours=2))


def test_reschedule_onto_a_time_overlapping_its_own_old_time_works(clinic, wednesday):
    booking = confirmed_consult(clinic, at(wednesday, "09:00"))
    lifecycle.reschedule(clinic.actor("patient"), booking.id, start=at(wednesday, "09:30"))
    booking = fresh(booking.id)
    assert booking.start_at == at(wednesday, "09:30") and booking.seat == 0
    assert is_open(clinic.weber, clinic.consult, at(wednesday, "08:30"))  # freed: it only touched 09:00
    assert not is_open(clinic.weber, clinic.consult, at(wednesday, "09:00"))  # its buffer runs into 09:30
    assert is_open(clinic.weber, clinic.consult, at(wednesday, "10:30"))
    assert_never_overbooked(clinic.weber, utcnow())
    assert_slots_true(clinic.weber)


@pytest.mark.parametrize("status", ["held", "cancelled"])
def test_only_pending_and_confirmed_bookings_can_be_rescheduled(clinic, wednesday, status):
    result = consult(clinic, clinic.actor("patient"), at(wednesday, "09:00"))
    if status == "cancelled":
        lifecycle.cancel(clinic.actor("patient"), result.booking.id)
    refused(409, "INVALID_TRANSITION", lifecycle.reschedule, clinic.actor("frontdesk"), result.booking.id,
            start=at(wednesday, "10:00"))


# --- complete / no-show ---------------------------------------------------------------------------

@pytest.mark.parametrize(("action", "to"), [("complete", "completed"), ("no_show", "no_show")])
def test_complete_and_no_show_only_after_the_start_and_only_from_confirmed(clinic, wednesday, action, to):
    booking = confirmed_consult(clinic, at(wednesday, "09:00"))
    staff, mark = clinic.actor("weber"), getattr(lifecycle, action)
    error = refused(409, "POLICY_VIOLATION", mark, staff, booking.id, now=booking.start_at - timedelta(minutes=1))
    assert error.details["rule"] == "not_started"
    refused(403, "FORBIDDEN", mark, clinic.actor("patient"), booking.id, now=booking.start_at)
    mark(staff, booking.id, now=booking.start_at + timedelta(minutes=1))
    assert fresh(booking.id).status == to
    one_new_event(booking.id, 2, "completed" if action == "complete" else "no_show", "confirmed", to, staff)
    refused(409, "INVALID_TRANSITION", mark, staff, booking.id, now=booking.start_at + timedelta(hours=1))
    assert_slots_true(clinic.weber)


@pytest.mark.parametrize("action", ["complete", "no_show"])
def test_a_pending_request_cannot_be_completed_or_missed(clinic, wednesday, action):
    booking = pending_physio(clinic, at(wednesday, "14:15"))
    refused(409, "INVALID_TRANSITION", getattr(lifecycle, action), clinic.actor("frontdesk"), booking.id,
            now=booking.start_at + timedelta(minutes=5))


# --- expiry ---------------------------------------------------------------------------------------

def test_the_expire_job_turns_stale_holds_into_expired_and_frees_their_time(clinic, wednesday):
    now = utcnow()
    stale = [consult(clinic, clinic.guest(), at(wednesday, hhmm), now=now).booking.id for hhmm in ("09:00", "10:00")]
    live = consult(clinic, clinic.guest(), at(wednesday, "11:00"), now=now + timedelta(minutes=5)).booking.id

    assert lifecycle.expire_holds(now=now + timedelta(minutes=10)) == 2

    for booking_id in stale:
        booking = fresh(booking_id)
        assert booking.status == "expired"
        trail = assert_event_chain(booking)
        assert [(e.action, e.actor_role, e.from_status, e.to_status) for e in trail[1:]] == [
            ("expired", "system", "held", "expired")]
    assert fresh(live).status == "held"
    assert lifecycle.expire_holds(now=now + timedelta(minutes=10)) == 0  # idempotent
    assert_slots_true(clinic.weber)


def test_an_expired_hold_never_blocks_a_new_hold_even_before_the_job_ran(clinic, wednesday):
    start = at(wednesday, "09:00")
    # a hold taken 11 minutes "ago": already past its expiry, still status held, no job has run
    stale = consult(clinic, clinic.guest(), start, now=utcnow() - timedelta(minutes=11)).booking
    assert fresh(stale.id).status == "held"
    assert is_open(clinic.weber, clinic.consult, start)  # the slots table already ignores it
    assert_slots_true(clinic.weber)

    taken = consult(clinic, clinic.actor("patient"), start)

    assert fresh(taken.booking.id).status == "held"
    assert fresh(stale.id).status == "expired"  # released inside the new hold's transaction, with its event
    assert [e.action for e in events_of(stale.id)] == ["held", "expired"]
    assert_never_overbooked(clinic.weber, utcnow())
    assert_slots_true(clinic.weber)


# --- group sessions -------------------------------------------------------------------------------

def test_a_group_session_takes_six_holds_and_refuses_the_seventh(clinic, wednesday):
    start = at(wednesday, "14:30")
    ids = []
    for n in range(6):
        contact = Contact(name=f"Guest {n}", phone=f"+49151123456{70 + n}")  # six people, six phones (hold cap)
        ids.append(hold(clinic.guest(), provider_id=clinic.fischer, appointment_type_id=clinic.group, start=start,
                        contact=contact).booking.id)
        row = slot_row(clinic.fischer, clinic.group, start)
        assert (row.held, row.status) == (n + 1, "partial" if n < 5 else "full")
    assert sorted(fresh(i).seat for i in ids) == list(range(6))  # six places, one each
    refused(409, "SLOT_FULL", hold, clinic.guest(), provider_id=clinic.fischer, appointment_type_id=clinic.group,
            start=start, contact=GINA)
    # the class occupies Fischer: a one-to-one physio session cannot overlap it
    refused(409, "SLOT_FULL", physio, clinic, clinic.guest(), at(wednesday, "14:15"))
    assert_never_overbooked(clinic.fischer, utcnow())
    assert_slots_true(clinic.fischer)


# --- the audit trail ------------------------------------------------------------------------------

def test_every_change_of_a_booking_writes_exactly_one_event_with_actor_and_statuses(clinic, wednesday):
    guest, frontdesk, fischer = clinic.guest(), clinic.actor("frontdesk"), clinic.actor("fischer")
    result = physio(clinic, guest, at(wednesday, "14:15"))
    steps = [
        (lambda: lifecycle.confirm(guest, result.booking.id, hold_token=result.hold_token),
         ("confirmed", "held", "pending", guest)),
        (lambda: lifecycle.reschedule(frontdesk, result.booking.id, start=at(wednesday, "15:00")),
         ("rescheduled", "pending", "pending", frontdesk)),
        (lambda: lifecycle.accept(fischer, result.booking.id), ("accepted", "pending", "confirmed", fischer)),
        (lambda: lifecycle.no_show(fischer, result.booking.id, now=at(wednesday, "15:20")),
         ("no_show", "confirmed", "no_show", fischer)),
    ]
    for count, (step, (action, from_status, to_status, actor)) in enumerate(steps, start=1):
        step()
        one_new_event(result.booking.id, count, action, from_status, to_status, actor)
        assert_slots_true(clinic.fischer)
    assert_event_chain(fresh(result.booking.id))


# --- PostgreSQL's last line of defence ------------------------------------------------------------

def _raw_booking(clinic: Clinic, start, seat: int, status: str = "confirmed") -> dict:
    return dict(id=new_id(), organization_id=clinic.organization_id, guest_name="Raw Row", provider_id=clinic.weber,
                appointment_type_id=clinic.consult, location_id=clinic.berlin_id, start_at=start,
                end_at=start + timedelta(minutes=30), block_start_at=start, block_end_at=start + timedelta(minutes=35),
                status=status, seat=seat, source="staff", reschedule_count=0, created_at=utcnow(),
                updated_at=utcnow())


def test_postgresql_refuses_two_overlapping_live_bookings_in_one_seat(backend, clinic, wednesday):
    insert = Booking.__table__.insert()
    if backend == "sqlite":
        # SQLite has no exclusion constraints: there the single writer lock (BEGIN IMMEDIATE)
        # and the engine re-check are the whole defence, so raw SQL can still write both rows.
        with write_transaction():
            db.session.execute(insert.values(**_raw_booking(clinic, at(wednesday, "09:00"), seat=0)))
            db.session.execute(insert.values(**_raw_booking(clinic, at(wednesday, "09:30"), seat=0)))
        assert "ex_bookings" not in db.session.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'bookings'"))
        return
    start = at(wednesday, "09:00")
    with write_transaction():
        db.session.execute(insert.values(**_raw_booking(clinic, start, seat=0)))
    with pytest.raises(IntegrityError) as caught:
        with write_transaction():  # 09:30 starts inside the first row's buffer, same seat
            db.session.execute(insert.values(**_raw_booking(clinic, at(wednesday, "09:30"), seat=0)))
    assert "ex_bookings_provider_seat_overlap" in str(caught.value)
    with write_transaction():
        db.session.execute(insert.values(**_raw_booking(clinic, at(wednesday, "09:30"), seat=1)))  # another seat
        db.session.execute(insert.values(**_raw_booking(clinic, start, seat=0, status="cancelled")))  # not live
    assert db.session.scalar(text("SELECT count(*) FROM pg_constraint WHERE conname = "
                                  "'ex_bookings_provider_seat_overlap'")) == 1


@pytest.mark.parametrize("who", ["frontdesk", "weber", "nobody"])
def test_staff_can_only_hold_for_a_patient_of_their_own_clinic(clinic, wednesday, who):
    """The patient a staff hold names must be a patient account of this organization."""
    named = find_user_by_email(f"{who}@{DOMAIN}").id if who != "nobody" else uuid.uuid4()
    before = row_counts()
    with pytest.raises(BookwellError) as refused:
        hold(clinic.actor("frontdesk"), patient_id=named, provider_id=clinic.weber,
             appointment_type_id=clinic.consult, start=at(wednesday, "10:00"), source="staff")
    assert refused.value.status == 422
    assert refused.value.details["fields"] == {"patient_id": "No such patient in this clinic."}
    assert row_counts() == before
