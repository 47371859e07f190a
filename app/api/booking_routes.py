"""Bookings over the JSON API: hold, confirm, cancel, reschedule, accept, decline, read."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app import roles
from app.accounts import AccountError, register_patient
from app.api import api_v1, idempotency
from app.api import responses as r
from app.api.auth import api_user
from app.api.contract import operation
from app.api.schemas import (
    CancelRequest,
    ConfirmRequest,
    DecisionRequest,
    HoldRequest,
    RegisterRequest,
    RescheduleRequest,
    booking_out,
)
from app.booking import lifecycle
from app.booking.actors import Actor, visible
from app.booking.hold import Contact, hold
from app.browser_session import browser_session_id
from app.errors import not_found, validation_error
from app.extensions import db
from app.models import Booking
from app.phones import normalise_phone
from app.tenancy import phone_region
from app.tenancy import portal_organization


def actor() -> Actor:
    user = api_user()
    if user is not None:
        return Actor.of(user)
    org = portal_organization()
    if org is None:
        raise not_found("organization")
    return Actor.guest(org.id, browser_session_id(create=False))


STAFF = roles.STAFF


@api_v1.post("/auth/register")
@operation("Patient sign-up: 202 either way; the email says how to go on", body=RegisterRequest,
           response=r.Accepted, status=202, auth="optional", errors=[404])
def register(body: RegisterRequest):
    org = portal_organization()
    if org is None:
        raise not_found("organization")
    phone = _phone(body.phone)
    try:
        register_patient(org.id, email=body.email, password=body.password, full_name=body.name,
                         phone=phone, timezone=body.timezone or "UTC")
    except AccountError as error:
        raise validation_error({error.field: error.message}) from error
    # The same answer for a new and a known address (no account enumeration): the email
    # carries the way on -- a confirmation link, or for a known address a sign-in notice.
    return {"status": "check_email", "message": "We have sent an email to this address. Open the link "
            "in it to finish; then sign in with POST /api/v1/auth/token."}


def _phone(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return normalise_phone(raw, phone_region())
    except ValueError as exc:
        raise validation_error({"phone": str(exc)}) from exc


@api_v1.post("/bookings")
@operation("Hold a time (guests add name and email or phone)", body=HoldRequest, response=r.HeldBooking,
           status=201, auth="optional", errors=[403, 404, 409], key_in_transaction=True)
def create_booking(body: HoldRequest):
    who = actor()
    contact = None
    if who.role != "patient":
        if not body.name:
            raise validation_error({"name": "Tell us who the appointment is for."})
        if who.role == "guest" and not (body.email or body.phone):
            raise validation_error({"email": "Give an email address or a phone number so the clinic can reach you."})
        contact = Contact(name=body.name, email=body.email, phone=_phone(body.phone))
    answers = []

    def answer(result) -> None:  # inside the hold's transaction: the answer commits with it, no reload
        answers.append(booking_out(result.booking, hold_token=result.hold_token))
        idempotency.answer_in_transaction(201, answers[-1])

    hold(who, contact=contact, source="api", notes=body.notes, patient_timezone=body.timezone,
         slot_id=body.slot_id, provider_id=body.provider_id, appointment_type_id=body.appointment_type_id,
         start=body.start, location_id=body.location_id, before_commit=answer)
    return answers[-1]


def _fresh(booking_id) -> Booking:
    return db.session.scalars(select(Booking).options(joinedload(Booking.location))
                              .where(Booking.id == booking_id).execution_options(populate_existing=True)).one()


@api_v1.post("/bookings/<uuid:booking_id>/confirm")
@operation("Confirm a hold (guests present the hold_token)", body=ConfirmRequest, response=r.BookingOut,
           auth="optional", errors=[403, 409])
def confirm_booking(booking_id, body: ConfirmRequest):
    booking = lifecycle.confirm(actor(), booking_id, hold_token=body.hold_token, notes=body.notes)
    return booking_out(_fresh(booking.id))


@api_v1.post("/bookings/<uuid:booking_id>/cancel")
@operation("Cancel (patients within policy, staff any time)", body=CancelRequest, response=r.BookingOut,
           auth="optional", errors=[403, 409])
def cancel_booking(booking_id, body: CancelRequest):
    booking = lifecycle.cancel(actor(), booking_id, body.reason, hold_token=body.hold_token)
    return booking_out(_fresh(booking.id))


@api_v1.post("/bookings/<uuid:booking_id>/reschedule")
@operation("Move a booking atomically", body=RescheduleRequest, response=r.BookingOut, errors=[403, 409])
def reschedule_booking(booking_id, body: RescheduleRequest):
    booking = lifecycle.reschedule(actor(), booking_id, slot_id=body.slot_id, start=body.start)
    return booking_out(_fresh(booking.id))


@api_v1.post("/bookings/<uuid:booking_id>/accept")
@operation("Accept a pending request", body=DecisionRequest, response=r.BookingOut, roles=STAFF, errors=[409])
def accept_booking(booking_id, body: DecisionRequest):
    return booking_out(_fresh(lifecycle.accept(actor(), booking_id).id))


@api_v1.post("/bookings/<uuid:booking_id>/decline")
@operation("Decline a pending request", body=DecisionRequest, response=r.BookingOut, roles=STAFF, errors=[409])
def decline_booking(booking_id, body: DecisionRequest):
    return booking_out(_fresh(lifecycle.decline(actor(), booking_id, body.reason).id))


@api_v1.get("/bookings/me")
@operation("The caller's bookings", response=r.BookingList)
def my_bookings():
    who = actor()
    query = visible(who, select(Booking).options(joinedload(Booking.location))).order_by(Booking.start_at.desc())
    if who.role != "patient":
        query = query.where(Booking.patient_id == who.user_id)
    return {"bookings": [booking_out(b) for b in db.session.scalars(query.limit(500)).unique()]}


@api_v1.get("/bookings/<uuid:booking_id>")
@operation("One booking the caller may see", response=r.BookingOut)
def get_booking(booking_id):
    return booking_out(lifecycle.get_booking(actor(), booking_id))
