"""Patient portal pages without a browser: the one-time form token, guest links,
calendar files, live-channel permissions and preferences."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AppointmentType, AvailabilitySlot, Booking, Provider, User, utcnow
from app.realtime.channels import authorize
from tests.integration.helpers import csrf_token, login


def _free_slot(app):
    with app.app_context():
        provider = db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Anna Weber")).one()
        kind = db.session.scalars(select(AppointmentType).where(AppointmentType.name == "General consultation")).one()
        slot = db.session.scalars(select(AvailabilitySlot).where(
            AvailabilitySlot.provider_id == provider.id, AvailabilitySlot.appointment_type_id == kind.id,
            AvailabilitySlot.status == "open", AvailabilitySlot.start_at > utcnow() + timedelta(days=3),
        ).order_by(AvailabilitySlot.start_at)).first()
        return {"provider_id": str(provider.id), "appointment_type_id": str(kind.id),
                "location_id": str(slot.location_id), "start": slot.start_at.isoformat()}


def _bookings(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Booking))


def _hold(client, slot, token="form-token-1"):
    return client.post("/book/hold", data={**slot, "csrf_token": csrf_token(client, "/book"), "form_token": token})


def test_a_double_submitted_hold_form_books_once_and_both_answers_lead_to_the_same_page(app, demo, client):
    slot, before = _free_slot(app), _bookings(app)
    first, second = _hold(client, slot), _hold(client, slot)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert "/book/confirm/" in first.headers["Location"]
    assert _bookings(app) == before + 1


def test_a_taken_time_sends_the_patient_back_to_fresh_times_with_a_friendly_message(app, demo, client):
    slot = _free_slot(app)
    assert _hold(client, slot, "t-1").status_code == 303
    other = app.test_client()
    again = _hold(other, {**slot, "back": "/book"}, "t-2")
    assert again.status_code == 303 and again.headers["Location"] == "/book"
    page = other.get("/book").get_data(as_text=True)
    assert "someone else just took that time" in page


def test_a_guests_bad_phone_is_shown_at_the_field_and_the_hold_stays(app, demo, client):
    slot = _free_slot(app)
    confirm_url = _hold(client, slot).headers["Location"]
    form = {"csrf_token": csrf_token(client, confirm_url), "name": "Gina Guest", "email": "gina@example.com",
            "phone": "12", "form_token": "confirm-1"}
    answer = client.post(confirm_url, data=form)
    assert answer.status_code == 422
    assert re.search(r'id="phone-error">[^<]*not valid', answer.get_data(as_text=True))
    phone = re.search(r'<input[^>]*id="phone"[^>]*>', answer.get_data(as_text=True)).group(0)
    assert 'aria-invalid="true"' in phone and 'aria-describedby="phone-hint phone-error"' in phone  # both read out
    booking_id = confirm_url.split("?")[0].rsplit("/", 1)[1]
    with app.app_context():
        assert db.session.get(Booking, __import__("uuid").UUID(booking_id)).status == "held"
    form.update(phone="+49 30 1234567", form_token="confirm-2", csrf_token=csrf_token(client, confirm_url))
    done = client.post(confirm_url, data=form)
    assert done.status_code == 303 and "/book/done/" in done.headers["Location"]
    result = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "You&#39;re booked" in result or "You're booked" in result
    manage = re.search(r'id="manage-link" href="([^"]+)"', result).group(1)
    assert app.test_client().get(manage.replace("http://localhost", "")).status_code == 200
    tampered = manage[:-3] + ("AAA" if not manage.endswith("AAA") else "BBB")
    assert app.test_client().get(tampered.replace("http://localhost", "")).status_code == 404


def test_calendar_files_are_for_the_booking_owner_only(app, demo, client):
    login(client, "patient@riverside.example")
    with app.app_context():
        patient = db.session.scalars(select(User).where(User.full_name == "Paula Patient")).one()
        booking = db.session.scalars(select(Booking).where(Booking.patient_id == patient.id,
                                                           Booking.status == "confirmed")).first()
        booking_id = booking.id
    own = client.get(f"/bookings/{booking_id}.ics")
    assert own.status_code == 200 and own.mimetype == "text/calendar"
    assert f"UID:{booking_id}@bookwell" in own.get_data(as_text=True)
    assert app.test_client().get(f"/bookings/{booking_id}.ics").status_code == 404


@pytest.mark.parametrize(
    ("role", "channel", "allowed"),
    [
        ("anonymous", "slots", True),      # public availability, no personal data
        ("anonymous", "provider", False),  # an agenda is not public
        ("patient", "slots", True),
        ("patient", "provider", False),    # a patient can never follow an agenda
        ("patient", "location", False),
        ("patient", "booking-own", True),  # their own booking's changes
        ("patient", "booking-other", False),
        ("provider", "provider", True),    # Dr. Weber follows her own agenda
        ("provider", "provider-other", False),
        ("frontdesk", "location", True),
        ("frontdesk", "provider", True),
        ("frontdesk", "bogus", False),     # unknown kinds are refused
    ],
)
def test_live_channels_follow_the_roles(app, demo, role, channel, allowed):
    with app.app_context():
        users = {u.role + ("" if u.role != "patient" else ":" + u.full_name): u for u in db.session.scalars(select(User))}
        weber = db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Anna Weber")).one()
        chen = db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Maya Chen")).one()
        paula = users["patient:Paula Patient"]
        own = db.session.scalars(select(Booking).where(Booking.patient_id == paula.id)).first()
        other = db.session.scalars(select(Booking).where(Booking.patient_id != paula.id)).first()
        user = {"anonymous": None, "patient": paula, "provider": db.session.scalars(
            select(User).where(User.provider_id == weber.id)).one(), "frontdesk": users["frontdesk"]}[role]
        name = {"slots": f"slots:{weber.id}", "provider": f"provider:{weber.id}",
                "provider-other": f"provider:{chen.id}", "location": f"location:{weber.locations[0].id}",
                "booking-own": f"booking:{own.id}", "booking-other": f"booking:{other.id}",
                "bogus": f"secrets:{weber.id}"}[channel]
        result = authorize(user, weber.organization_id, name)
        assert (result is not None) is allowed
        if allowed:
            assert result == f"bookwell:org:{weber.organization_id}:{name.replace(':', ':', 1)}"


def test_preferences_save_and_text_reminders_need_a_phone(app, demo, client):
    login(client, "olivia@riverside.example")
    token = csrf_token(client, "/profile")
    answer = client.post("/profile", data={"csrf_token": token, "full_name": "Olivia Park", "phone": "",
                                           "timezone": "America/Chicago", "language": "en", "notify_sms": "y",
                                           "reminders_enabled": "y"})
    assert answer.status_code == 422 and "Add a mobile number" in answer.get_data(as_text=True)
    answer = client.post("/profile", data={"csrf_token": csrf_token(client, "/profile"), "full_name": "Olivia Park",
                                           "phone": "+1 212 555 0123", "timezone": "America/Chicago",
                                           "language": "en", "notify_email": "y", "reminders_enabled": "y"})
    assert answer.status_code == 303
    with app.app_context():
        olivia = db.session.scalars(select(User).where(User.full_name == "Olivia Park")).one()
        assert olivia.patient_profile.timezone == "America/Chicago"
        assert olivia.patient_profile.phone == "+12125550123"


def test_a_guest_reaches_the_confirm_page_by_the_link_even_if_the_cookie_lost_the_hold(app, demo, client):
    # A concurrent request can rewrite the cookie session; the hold token travels in the URL too.
    confirm_url = _hold(client, _free_slot(app)).headers["Location"]
    with client.session_transaction() as session:
        session.pop("holds", None)
    assert client.get(confirm_url).status_code == 200
    bare = confirm_url.split("?")[0]
    assert client.get(bare).status_code == 404  # without the token (or the session) it is nobody's
    assert client.get(bare + "?token=not-the-token").status_code == 404
