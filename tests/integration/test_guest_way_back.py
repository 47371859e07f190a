"""Guests: their messages carry the signed manage link (short enough for a text), the
manage page labels the zone it shows, and the link's cancel and reschedule run as a guest
inside the booking services (policy under the lock, the audit trail names the guest)."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AppointmentType, Booking, BookingEvent, Notification, utcnow
from app.notifications.dispatch import create_for_event, send_one
from tests.integration.helpers import csrf_token
from tests.integration.test_patient_pages import _free_slot, _hold
from tests.smtp_sink import SmtpSink


@pytest.fixture
def sink(app, monkeypatch):
    with SmtpSink() as server:
        for key, value in {"MAIL_BACKEND": "smtp", "SMTP_HOST": server.host, "SMTP_PORT": server.port,
                           "SMTP_STARTTLS": False, "SMTP_USERNAME": "", "SMS_BACKEND": "file"}.items():
            monkeypatch.setitem(app.config, key, value)
        yield server


def guest_booking(app, client, phone: str = "+49 30 1234567") -> tuple[uuid.UUID, str]:
    """A guest books through the pages; (booking id, the manage path from the result page)."""
    confirm_url = _hold(client, _free_slot(app)).headers["Location"]
    form = {"csrf_token": csrf_token(client, confirm_url), "name": "Gina Guest", "email": "gina@example.com",
            "phone": phone, "form_token": f"c-{uuid.uuid4().hex}"}
    done = client.post(confirm_url, data=form)
    assert done.status_code == 303, done.get_data(as_text=True)[:500]
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    manage = re.search(r'id="manage-link" href="([^"]+)"', page).group(1)
    return uuid.UUID(confirm_url.split("?")[0].rsplit("/", 1)[1]), "/" + manage.split("/", 3)[3]


def events(app, booking_id) -> list[BookingEvent]:
    with app.app_context():
        return list(db.session.scalars(select(BookingEvent).where(BookingEvent.booking_id == booking_id)
                                       .order_by(BookingEvent.created_at)))


def test_the_guests_confirmation_email_and_text_carry_the_manage_link(app, demo, client, sink):
    booking_id, manage = guest_booking(app, client)
    with app.app_context():
        created = create_for_event(events(app, booking_id)[-1].id)
        rows = {row.channel: row for row in db.session.scalars(select(Notification).where(
            Notification.id.in_(created), Notification.template == "confirmed"))}
        assert "manage_url" not in rows["email"].payload  # made at sending time, never stored
        for row in rows.values():
            assert send_one(row.id) == "sent"
    [mail] = [m for m in sink.messages if m.to == "gina@example.com"]
    text = mail.message.get_body(("plain",)).get_content()
    assert manage in text
    assert len(manage.rsplit("/", 1)[1]) == 38  # short token: fits a text message
    with app.app_context():  # a guest who gave only a phone number gets the same link by text
        from app.notifications.render import context, render

        text = render("confirmed", "sms", "en", context(db.session.get(Booking, booking_id), {})).text
    assert manage in text and len(text) <= 160, text


def test_the_manage_page_shows_the_clinics_zone_labelled_until_the_visitors_is_known(app, demo, client):
    _, manage = guest_booking(app, client)
    stranger = app.test_client()
    page = stranger.get(manage).get_data(as_text=True)
    assert "Times in the\n  clinic's time zone, Europe/Berlin" in page or "clinic's time zone, Europe/Berlin" in page
    stranger.set_cookie("bw_tz", "America%2FChicago")
    page = stranger.get(manage).get_data(as_text=True)
    assert "Times in your time zone, America/Chicago" in page


def test_cancel_by_the_signed_link_runs_as_the_guest_and_the_audit_names_the_guest(app, demo, client):
    booking_id, manage = guest_booking(app, client)
    other = app.test_client()
    response = other.post(manage + "/cancel", data={"csrf_token": csrf_token(other, manage), "reason": "ill",
                                                    "form_token": "cancel-1"})
    assert response.status_code == 303
    last = events(app, booking_id)[-1]
    assert (last.action, last.actor_role, last.actor_id) == ("cancelled", "guest", None)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        assert (booking.status, booking.cancelled_by) == ("cancelled", "patient")


def test_the_policy_is_checked_inside_the_service_for_a_guest(app, demo, client):
    booking_id, manage = guest_booking(app, client)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        kind = db.session.get(AppointmentType, booking.appointment_type_id)
        kind.cancel_notice_minutes = int((booking.start_at - utcnow()).total_seconds() // 60) + 60
        db.session.commit()
    other = app.test_client()
    assert "Cancelling:" in other.get(manage).get_data(as_text=True)  # the page no longer offers it ...
    response = other.post(manage + "/cancel", data={"csrf_token": csrf_token(other, "/auth/login"),
                                                    "form_token": "c-2"})  # ... and the service refuses it
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Booking, booking_id).status == "confirmed"
    assert events(app, booking_id)[-1].action != "cancelled"


def test_a_signed_link_acts_on_its_own_booking_only(app, demo, client):
    from app.booking import lifecycle
    from app.booking.actors import Actor
    from app.errors import BookwellError

    first, _ = guest_booking(app, client)
    second, _ = guest_booking(app, app.test_client(), phone="+49 30 7654321")
    with app.app_context():
        link_of_first = Actor.guest_with_link(db.session.get(Booking, first))
        with pytest.raises(BookwellError) as refused:
            lifecycle.cancel(link_of_first, second)
        assert refused.value.status == 404
        assert db.session.get(Booking, second).status == "confirmed"


def test_a_refused_guest_confirm_writes_no_contact_details(app, demo, client):
    confirm_url = _hold(client, _free_slot(app)).headers["Location"]
    booking_id = uuid.UUID(confirm_url.split("?")[0].rsplit("/", 1)[1])
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        booking.hold_expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    form = {"csrf_token": csrf_token(client, "/book"), "name": "Late Larry", "email": "larry@example.com",
            "phone": "", "form_token": "late-1"}
    client.post(confirm_url, data=form)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        assert booking.guest_email != "larry@example.com" and booking.status != "confirmed"


def test_links_in_a_second_clinics_messages_open_inside_that_clinic(app, demo, monkeypatch):
    """Messages are made in jobs, without the request's /o/<slug> prefix: the clinic the plain
    site serves gets plain paths, every other clinic its own prefix (guest, patient, account)."""
    from app.links import external_url
    from app.models import Organization
    from app.notifications.render import _manage_url
    from app.tenancy import site_prefix
    from tests.integration.api_helpers import make_organization

    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://book.example")
    sunrise = make_organization(app, "Sunrise Clinic", slug="sunrise")
    with app.app_context():
        riverside = db.session.scalars(select(Organization).where(Organization.slug != "sunrise")).first()
        assert (site_prefix(sunrise), site_prefix(riverside.id)) == ("/o/sunrise", "")
        booking_id = str(uuid.uuid4())
        guest = _manage_url({"booking_id": booking_id, "site_prefix": "/o/sunrise", "guest": True})
        assert guest.startswith("https://book.example/o/sunrise/manage/")
        patient = _manage_url({"booking_id": booking_id, "site_prefix": "/o/sunrise", "guest": False})
        assert patient == "https://book.example/o/sunrise/appointments"
        home = _manage_url({"booking_id": booking_id, "site_prefix": "", "guest": True})
        assert home.startswith("https://book.example/manage/")
        old = _manage_url({"booking_id": booking_id, "guest": True})  # queued before prefixes were noted
        assert old.startswith("https://book.example/manage/")
        assert external_url("auth.confirm_sign_up", site_prefix=site_prefix(sunrise), token="t") \
            == "https://book.example/o/sunrise/auth/confirm/t"
    with app.test_request_context("/o/sunrise/book"):  # inside a request, without PUBLIC_URL: the host
        app.config["PUBLIC_URL"] = ""
        assert external_url("patient.appointments", site_prefix="/o/sunrise") == \
            "http://localhost/o/sunrise/appointments"


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_text_message_tells_the_clinics_reason_for_a_decline_or_cancel(app, language):
    values = {"clinic": "Riverside Health", "when_short": "Tue 08 Dec 09:00", "location": "Berlin Mitte",
              "by_clinic": True, "reason": "The therapist is away that week, sorry"}
    from app.notifications.render import render

    with app.app_context():
        for template in ("declined", "cancelled"):
            text = render(template, "sms", language, values).text
            assert "The therapist is away that week, sorry" in text and len(text) <= 160, text
        long = render("declined", "sms", language, {**values, "reason": "x" * 300}).text
        assert "x" * 59 + "…" in long and "x" * 60 not in long  # a long reason is cut, not the message


def test_the_move_page_labels_its_zone_pages_through_weeks_and_states_the_change_rule(app, demo, client):
    booking_id, manage = guest_booking(app, client)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        kind = db.session.get(AppointmentType, booking.appointment_type_id)
        kind.cancel_notice_minutes = 24 * 60
        db.session.commit()
    visitor = app.test_client()
    page = visitor.get(manage + "/reschedule").get_data(as_text=True)
    assert "clinic's time zone, Europe/Berlin" in page
    assert "less than 24 hours away" in page and "+49 30 1234567" in page
    later = re.search(r'href="\?date=([0-9-]+)" rel="next"', page).group(1)
    far = visitor.get(manage + f"/reschedule?date={later}").get_data(as_text=True)
    assert f'href="?date={later}"' in far and 'rel="prev"' in far  # the next two weeks, and back
    visitor.set_cookie("bw_tz", "America%2FChicago")
    assert "Times in your time zone, America/Chicago" in visitor.get(manage + "/reschedule").get_data(as_text=True)


def test_a_message_tells_the_time_in_the_patients_zone_too_when_it_is_not_the_clinics(app, demo, client):
    from zoneinfo import ZoneInfo

    from app.notifications.render import context, render

    booking_id, _ = guest_booking(app, client)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        booking.patient_timezone = "America/New_York"
        db.session.commit()
        booking = db.session.get(Booking, booking_id)
        theirs = booking.start_at.astimezone(ZoneInfo("America/New_York"))
        for language, words in (("en", "your time"), ("de", "Ihre Zeit")):
            sent = render("confirmed", "email", language, context(booking, {}))
            assert f"{theirs:%H:%M} ({words}, America/New_York)" in sent.text
            assert f"{theirs:%H:%M} ({words}, America/New_York)" in sent.html
        booking.patient_timezone = "Europe/Berlin"  # the clinic's own: told once
        assert "your time" not in render("confirmed", "email", "en", context(booking, {})).text
