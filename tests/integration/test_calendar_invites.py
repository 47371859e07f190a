"""Email invitations a real calendar accepts (RFC 5546/6047): every kind of invite the
notifications send, read back with vobject (an iCalendar implementation independent of the
icalendar library that wrote them), has METHOD, the clinic as ORGANIZER, the patient as
ATTENDEE, UID, SEQUENCE and a DESCRIPTION."""
from __future__ import annotations

from datetime import timezone

import vobject

from app.booking import lifecycle
from app.booking.hold import hold
from app.calendars.ics import invite
from app.demo_seed import DOMAIN
from tests.integration.booking_helpers import at, day_ahead
from tests.integration.test_notifications import clinic, mail, process_last_event, send_all, sink  # noqa: F401

PATIENT = f"patient@{DOMAIN}"


def parsed(message) -> tuple[str, object]:
    raw = message.calendar()
    assert raw is not None, message.subject
    calendar = vobject.readOne(raw.decode())
    return calendar.method.value, calendar.vevent


def test_every_invite_kind_names_organizer_and_attendee(app, clinic, mail):  # noqa: F811
    patient = clinic.actor("patient")
    start = at(day_ahead(2), "10:00")
    booking_id = hold(patient, provider_id=clinic.weber, appointment_type_id=clinic.consult, start=start).booking.id
    lifecycle.confirm(patient, booking_id)
    _, created = process_last_event(booking_id)
    send_all(created)
    moved = at(day_ahead(2), "11:00")
    lifecycle.reschedule(patient, booking_id, start=moved)
    _, created = process_last_event(booking_id)
    send_all(created)
    lifecycle.cancel(patient, booking_id, reason="Plans changed")
    _, created = process_last_event(booking_id)
    send_all(created)

    invites = [m for m in mail.messages if m.calendar() is not None]
    seen = []
    for message in invites:
        method, event = parsed(message)
        seen.append((method, message.to))
        assert event.uid.value == f"{booking_id}@bookwell"
        organizer = event.organizer
        assert organizer.value.lower().startswith("mailto:") and organizer.params["CN"] == ["Riverside Health"]
        attendees = event.contents["attendee"]
        assert [a.value.lower() for a in attendees] == [f"mailto:{message.to.lower()}"]
        assert attendees[0].params.get("CN") and attendees[0].params["PARTSTAT"] == ["NEEDS-ACTION" if method == "REQUEST" else "DECLINED"]
        assert "General consultation" in event.description.value
        sequence = int(event.sequence.value)
        if method == "CANCEL":
            assert event.status.value == "CANCELLED" and sequence == 2
        elif event.dtstart.value.astimezone(timezone.utc) == moved:
            assert sequence == 1
        else:
            assert event.dtstart.value.astimezone(timezone.utc) == start and sequence == 0
    assert sorted(m for m, _ in seen) == ["CANCEL", "REQUEST", "REQUEST"]
    assert {to for _, to in seen} == {PATIENT}


def test_a_manage_link_goes_into_the_description_and_publish_has_no_attendee():
    raw = invite(uid="x@bookwell", start=at(day_ahead(2), "10:00"), end=at(day_ahead(2), "10:30"),
                 summary="Check-up with Dr. A", location="Main St", status="confirmed", method="REQUEST",
                 sequence=3, organizer_name="Harbour Clinic", organizer_email="desk@harbour.example",
                 attendee_email="guest@example.org", attendee_name="Gus Guest",
                 manage_url="https://book.example/manage/abc")
    calendar = vobject.readOne(raw.decode())
    event = calendar.vevent
    assert event.organizer.value == "mailto:desk@harbour.example" and event.organizer.params["CN"] == ["Harbour Clinic"]
    assert event.attendee.value == "mailto:guest@example.org" and event.attendee.params["PARTSTAT"] == ["NEEDS-ACTION"]
    assert "https://book.example/manage/abc" in event.description.value and int(event.sequence.value) == 3
    published = vobject.readOne(invite(uid="x@bookwell", start=at(day_ahead(2), "10:00"),
                                       end=at(day_ahead(2), "10:30"), summary="S", location="", status="confirmed",
                                       method="PUBLISH", sequence=0).decode())
    assert "attendee" not in published.vevent.contents and "organizer" not in published.vevent.contents
