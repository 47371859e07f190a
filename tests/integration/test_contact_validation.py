"""Valid contacts only: an email is one plain address (email-validator: no display name,
no list, no CR/LF; "000" refused), phones go through phonenumbers, and no name or free
text that reaches an email header, a text message or a calendar carries control
characters -- through the API and through the pages, one check per field, each refusal
writing nothing. A field that may span lines (notes) keeps its line breaks.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from app.accounts import AccountError, register_patient
from app.demo_seed import DOMAIN
from app.extensions import db
from app.models import AppointmentType, Booking, Location, Provider, User
from tests.integration.api_helpers import Api, assert_error, cheap_hashing, minted_token
from tests.integration.helpers import csrf_token, field_error, login, page_text, register, seed_demo_clinic
from tests.integration.test_admin_pages import admin  # noqa: F401 - the signed-in admin fixture
from tests.integration.test_admin_pages import location_data, post, provider_data, type_data
from tests.integration.test_hold_cap import free_slots, guest_body, page_hold

V1, ADMIN = "/api/v1", "/api/admin/v1"
BAD_EMAILS = ["000", "a@example.com,b@example.com", "Bob <bob@example.com>", "rita@example.com\r\nBcc: x@example.com",
              "rita@example.com rita2@example.com"]
CRLF, ESC = "Rita\r\nBcc: x@example.com", "Rita\x1b[31m"


@pytest.fixture
def demo(app, db_session, monkeypatch):
    seed_demo_clinic(app, monkeypatch)
    cheap_hashing(monkeypatch)


def rows(app) -> dict[str, int]:
    with app.app_context():
        return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
                for model in (Booking, User, AppointmentType, Location, Provider)}


def refused(app, thunk, field: str) -> None:
    before = rows(app)
    assert_error(thunk(), 422, "VALIDATION_ERROR", field)
    assert rows(app) == before


# --- the API -----------------------------------------------------------------------------------

@pytest.mark.parametrize("email", BAD_EMAILS)
def test_api_registration_refuses_anything_but_one_address(app, demo, client, email):
    body = {"email": email, "password": "a-long-enough-password", "name": "Rita"}
    refused(app, lambda: Api(client).post(f"{V1}/auth/register", body), "email")


@pytest.mark.parametrize("email", BAD_EMAILS)
def test_api_guest_holds_refuse_anything_but_one_address(app, demo, client, email):
    slot = free_slots(app, 1)[0]
    refused(app, lambda: Api(client).post(f"{V1}/bookings", guest_body(slot, email=email)), "email")


@pytest.mark.parametrize("field, value", [("name", CRLF), ("name", ESC), ("notes", "fine\x00"),
                                          ("notes", "line one\x1b"), ("phone", "000"), ("phone", "+49\r\n151")])
def test_api_guest_hold_text_fields_refuse_control_characters(app, demo, client, field, value):
    slot = free_slots(app, 1)[0]
    refused(app, lambda: Api(client).post(f"{V1}/bookings", {**guest_body(slot), field: value}), field)


def test_api_notes_keep_their_line_breaks(app, demo, client):
    slot = free_slots(app, 1)[0]
    held = Api(client).created(f"{V1}/bookings", {**guest_body(slot), "notes": "Knee pain\r\nsince Monday"})
    with app.app_context():
        assert db.session.get(Booking, _uuid(held["id"])).notes == "Knee pain\r\nsince Monday"


def test_api_registration_name_confirm_notes_and_cancel_reason_refuse_control_characters(app, demo, client):
    api = Api(client)
    body = {"email": "rita@example.com", "password": "a-long-enough-password", "name": CRLF}
    refused(app, lambda: api.post(f"{V1}/auth/register", body), "name")
    slot = free_slots(app, 1)[0]
    held = api.created(f"{V1}/bookings", guest_body(slot))
    token = held["hold_token"]
    refused(app, lambda: api.post(f"{V1}/bookings/{held['id']}/confirm", {"hold_token": token, "notes": "a\x07"}),
            "notes")
    refused(app, lambda: api.post(f"{V1}/bookings/{held['id']}/cancel", {"hold_token": token, "reason": "x\r\ny"}),
            "reason")


@pytest.mark.parametrize("path, body, field", [
    (f"{ADMIN}/locations", {"name": "Hafen\r\nX-Evil: 1", "timezone": "Europe/Berlin"}, "name"),
    (f"{ADMIN}/providers", {"name": "Dr.\x1b Evil"}, "name"),
    (f"{ADMIN}/providers", {"name": "Dr. Fine", "email": "a@example.com, b@example.com"}, "email"),
    (f"{ADMIN}/appointment-types", {"name": "Check\r\nBcc: all@example.com", "duration_minutes": 30}, "name"),
])
def test_api_staff_entered_names_refuse_control_characters(app, demo, client, path, body, field):
    manager = Api(client, minted_token(app, f"manager@{DOMAIN}"))
    refused(app, lambda: manager.post(path, body), field)


def test_the_account_service_refuses_a_bad_email_too(app, demo):
    with app.app_context(), pytest.raises(AccountError) as error:
        register_patient(_org(app), email="000", password="a-long-enough-password", full_name="Rita")
    assert error.value.field == "email"


# --- the pages ---------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [("email", "000"), ("email", "a@example.com,b@example.com"),
                                          ("email", "Bob <bob@example.com>"), ("full_name", ESC),
                                          ("phone", "000")])
def test_registration_page_explains_bad_fields_and_creates_nobody(app, demo, client, field, value):
    before = rows(app)
    answer = register(client, **{field: value})
    assert answer.status_code == 422
    assert field_error(answer, field)
    assert rows(app) == before


@pytest.mark.parametrize("field, value", [("name", ESC), ("email", "a@example.com;b@example.com"),
                                          ("email", "Bob <bob@example.com>"), ("phone", "12"),
                                          ("notes", "Knee\x1b pain")])
def test_guest_confirm_page_explains_bad_fields_and_keeps_the_hold(app, demo, client, field, value):
    slot = free_slots(app, 1)[0]
    confirm_url = page_hold(client, slot, 1).headers["Location"]
    data = {"name": "Rita Guest", "email": "rita@example.com", "phone": "+4915112345671", "notes": "",
            field: value, "csrf_token": csrf_token(client, confirm_url), "form_token": "confirm-1"}
    answer = client.post(confirm_url, data=data)
    assert answer.status_code == 422
    assert field_error(answer, field)
    with app.app_context():
        booking = db.session.scalars(select(Booking).where(Booking.status == "held")).one()
        assert booking.guest_email is None and booking.notes is None


def test_a_patients_profile_name_and_cancel_reason_refuse_control_characters(app, demo, client):
    login(client, f"patient@{DOMAIN}")
    profile = client.post("/profile", data={"csrf_token": csrf_token(client, "/profile"), "full_name": CRLF,
                                            "timezone": "Europe/Berlin", "language": "en"})
    assert profile.status_code == 422 and field_error(profile, "full_name")
    with app.app_context():
        from app.accounts import find_user_by_email

        patient = find_user_by_email(f"patient@{DOMAIN}")
        assert patient.full_name != CRLF
        booking = db.session.scalars(select(Booking).where(Booking.status == "confirmed",
                                                           Booking.patient_id == patient.id)).first()
        booking_id = booking.id
    appointments = client.get("/appointments")
    token = re.search(r'name="form_token" value="([^"]+)"', appointments.get_data(as_text=True)).group(1)
    cancel = client.post(f"/appointments/{booking_id}/cancel", data={
        "csrf_token": csrf_token(client, "/appointments"), "form_token": token, "reason": "Sick\r\nBcc: x@y.com"})
    assert cancel.status_code == 303
    assert "control characters" in page_text(client.get(cancel.headers["Location"]))
    with app.app_context():
        assert db.session.get(Booking, booking_id).status == "confirmed"


@pytest.mark.parametrize("form, path, field", [
    ("location", "/admin/locations/new", "name"),
    ("provider", "/admin/providers/new", "name"),
    ("type", "/admin/appointment-types/new", "name"),
])
def test_admin_pages_refuse_control_characters_in_names(app, demo, admin, form, path, field):
    builder = {"location": location_data, "provider": provider_data, "type": type_data}[form]
    with app.app_context():
        ids = {name: db.session.scalars(select(model.id).where(column == name)).one() for model, column, name in (
            (Location, Location.name, "Berlin Mitte"), (Provider, Provider.display_name, "Dr. Anna Weber"),
            (Provider, Provider.display_name, "Jonas Fischer"))}
        from app.models import Room
        room1 = db.session.scalars(select(Room.id).where(Room.name == "Room 1")).one()
    clinic = SimpleNamespace(berlin=ids["Berlin Mitte"], room1=room1, weber=ids["Dr. Anna Weber"],
                             fischer=ids["Jonas Fischer"])
    before = rows(app)
    answer = post(admin, path, builder(clinic, **{field: "Evil\r\nBcc: all@example.com"}))
    assert answer.status_code == 422
    assert "control characters" in (field_error(answer, field) or "")
    assert rows(app) == before


def test_a_staff_decline_reason_with_a_line_break_is_refused_and_the_request_stays(app, demo):
    desk = app.test_client()
    login(desk, f"frontdesk@{DOMAIN}")
    with app.app_context():
        pending = db.session.scalars(select(Booking).where(Booking.status == "pending")).first()
        booking_id = pending.id
    answer = desk.post(f"/frontdesk/bookings/{booking_id}/decline",
                       data={"csrf_token": csrf_token(desk, "/frontdesk/"), "form_token": "decline-1",
                             "reason": "Full\r\nBcc: all@example.com"}, follow_redirects=True)
    assert "control characters" in page_text(answer)
    with app.app_context():
        assert db.session.get(Booking, booking_id).status == "pending"


def _uuid(value: str):
    import uuid

    return uuid.UUID(value)


def _org(app):
    from app.models import Organization

    return db.session.scalars(select(Organization.id)).first()

