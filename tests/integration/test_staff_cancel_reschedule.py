"""Staff cancel and reschedule (issue 12, item 2) through the real pages: the booking detail,
the cancel confirmation step with a reason the patient is told, and moving a visit to a
free time of its provider or of another provider of the type -- with the patient's
message and calendar invite (same UID, SEQUENCE up) -- and who may do what.

Demo facts (app/demo_seed.py): Paula Patient has a confirmed "General consultation" with
Dr. Anna Weber (Berlin) next Tuesday 09:00; Dr. Maya Chen (New York) offers the same type.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app.accounts import find_user_by_email
from app.demo_seed import DOMAIN
from app.extensions import db
from app.models import Booking, Notification, utcnow
from app.notifications.dispatch import create_for_event, send_one
from tests.integration.booking_helpers import events_of, fresh, load_clinic
from tests.integration.helpers import csrf_token, page_text, seed_demo_clinic, sign_in_as
from tests.integration.test_notifications import assert_invite, mail, sink  # noqa: F401 - fixtures
from tests.integration.test_staff_pages import flashes, follow, make_booking

PAULA = f"patient@{DOMAIN}"


@pytest.fixture
def clinic(app, db_session, monkeypatch):
    """The demo clinic's ids. No app context stays pushed: the test client's requests need
    their own (a shared one would keep the signed-in user in `g` from request to request)."""
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        return load_clinic()


def weber_visit(clinic) -> Booking:
    return db.session.scalars(select(Booking).where(
        Booking.provider_id == clinic.weber, Booking.status == "confirmed",
        Booking.start_at > utcnow())).one()


def as_user(client, key: str) -> None:
    sign_in_as(client, find_user_by_email(f"{key}@{DOMAIN}"))


def notify(app, booking_id) -> list[Notification]:
    """Run the follow-up of the booking's newest event: the messages it creates."""
    with app.app_context():
        create_for_event(events_of(booking_id)[-1].id)
    return list(db.session.scalars(select(Notification).where(
        Notification.booking_id == booking_id, Notification.template != "reminder",
        Notification.status == "pending")))


def text_of(message) -> str:
    return message.message.get_body(("plain",)).get_content()


def times_on(body: str) -> list[str]:
    return re.findall(r'name="start" value="([^"]+)"', body)


# --- cancel --------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["frontdesk", "manager", "admin", "weber"])
def test_staff_cancel_asks_first_then_cancels_with_the_reason_the_patient_reads(app, client, clinic, mail, role):
    visit = weber_visit(clinic)
    as_user(client, role)
    detail = page_text(client.get(f"/staff/bookings/{visit.id}"))
    assert f"/staff/bookings/{visit.id}/cancel?" in detail and "Reschedule" in detail

    step = client.get(f"/staff/bookings/{visit.id}/cancel")
    assert step.status_code == 200 and "Cancel this appointment?" in page_text(step)
    assert fresh(visit.id).status == "confirmed"  # asking changes nothing

    answer = client.post(f"/staff/bookings/{visit.id}/cancel", data={
        "csrf_token": csrf_token(client, f"/staff/bookings/{visit.id}/cancel"), "form_token": f"cancel-{role}-1",
        "reason": "Dr. Weber is ill today"})

    assert ("success", "Cancelled Paula Patient's appointment; they are told why.") in flashes(follow(client, answer))
    cancelled = fresh(visit.id)
    assert (cancelled.status, cancelled.cancelled_by, cancelled.cancel_reason) == (
        "cancelled", "staff", "Dr. Weber is ill today")
    created = notify(app, visit.id)
    to_patient = [row for row in created if row.recipient == PAULA and row.channel == "email"]
    assert [row.template for row in to_patient] == ["cancelled"]
    with app.app_context():
        assert send_one(to_patient[0].id) == "sent"
    message = next(m for m in mail.wait_for(1) if m.to == PAULA)
    assert "is cancelled by the clinic" in text_of(message) and "Reason: Dr. Weber is ill today" in text_of(message)
    assert_invite(message, method="CANCEL", uid=f"{visit.id}@bookwell", sequence=None, start=visit.start_at)


def test_a_staff_cancel_without_a_reason_is_refused_and_changes_nothing(app, client, clinic):
    visit = weber_visit(clinic)
    as_user(client, "frontdesk")
    answer = client.post(f"/staff/bookings/{visit.id}/cancel", data={
        "csrf_token": csrf_token(client, f"/staff/bookings/{visit.id}/cancel"), "reason": "   "})
    assert answer.status_code == 422
    assert "Tell the patient why" in page_text(answer)
    assert fresh(visit.id).status == "confirmed" and [e.action for e in events_of(visit.id)] == ["seeded"]


def test_inside_the_patients_notice_staff_see_a_warning_and_may_still_cancel(app, client, clinic):
    soon = make_booking(app, organization_id=clinic.organization_id, provider_id=clinic.weber, type_id=clinic.consult,
                        location_id=clinic.berlin_id, start=utcnow() + timedelta(hours=3), status="confirmed")
    as_user(client, "frontdesk")
    body = page_text(client.get(f"/staff/bookings/{soon}/cancel"))
    assert 'id="policy-warning"' in body and "up to 1 day before it starts" in body
    assert "As staff you can still cancel." in body

    answer = client.post(f"/staff/bookings/{soon}/cancel", data={
        "csrf_token": csrf_token(client, f"/staff/bookings/{soon}/cancel"), "reason": "Emergency"})
    assert answer.status_code == 303 and fresh(soon).status == "cancelled"


def test_a_provider_cannot_open_or_cancel_another_providers_visit(app, client, clinic):
    visit = weber_visit(clinic)
    as_user(client, "fischer")
    assert client.get(f"/staff/bookings/{visit.id}").status_code == 404
    assert client.get(f"/staff/bookings/{visit.id}/cancel").status_code == 404
    token = csrf_token(client, "/provider/")
    assert client.post(f"/staff/bookings/{visit.id}/cancel", data={"csrf_token": token, "reason": "x"}).status_code == 404
    as_user(client, "patient")  # and patients never reach the staff pages
    assert client.get(f"/staff/bookings/{visit.id}").status_code == 403
    assert fresh(visit.id).status == "confirmed"


# --- reschedule ----------------------------------------------------------------------------------

def test_front_desk_moves_a_visit_to_a_free_time_and_the_patient_gets_an_updated_invite(app, client, clinic, mail):
    visit = weber_visit(clinic)
    old_start = visit.start_at
    as_user(client, "frontdesk")
    page = client.get(f"/staff/bookings/{visit.id}/reschedule")
    assert page.status_code == 200
    body = page_text(page)
    assert "Dr. Maya Chen" in body  # another provider of the type is offered to the front desk
    start = times_on(body)[0]

    answer = client.post(f"/staff/bookings/{visit.id}/reschedule", data={
        "csrf_token": csrf_token(client, f"/staff/bookings/{visit.id}/reschedule"), "form_token": "move-1",
        "provider_id": str(clinic.weber), "start": start})

    assert any(kind == "success" and text.startswith("Moved Paula Patient to")
               for kind, text in flashes(follow(client, answer)))
    moved = fresh(visit.id)
    new_start = moved.start_at  # read now: sending commits, which expires the loaded row
    assert new_start == datetime.fromisoformat(start) != old_start
    assert (moved.status, moved.reschedule_count, moved.provider_id) == ("confirmed", 1, clinic.weber)
    assert [e.action for e in events_of(visit.id)] == ["seeded", "rescheduled"]
    to_patient = [row for row in notify(app, visit.id) if row.recipient == PAULA and row.channel == "email"]
    assert [row.template for row in to_patient] == ["rescheduled"]
    with app.app_context():
        assert send_one(to_patient[0].id) == "sent"
    message = next(m for m in mail.wait_for(1) if m.to == PAULA)
    assert_invite(message, method="REQUEST", uid=f"{visit.id}@bookwell", sequence=1, start=new_start)


def test_front_desk_moves_a_visit_to_another_provider_of_the_type(app, client, clinic):
    visit = weber_visit(clinic)
    as_user(client, "frontdesk")
    body = page_text(client.get(f"/staff/bookings/{visit.id}/reschedule?provider_id={clinic.chen}"))
    assert "America/New_York" in body
    start = times_on(body)[0]

    answer = client.post(f"/staff/bookings/{visit.id}/reschedule", data={
        "csrf_token": csrf_token(client, f"/staff/bookings/{visit.id}/reschedule"), "provider_id": str(clinic.chen),
        "start": start})

    assert answer.status_code == 303
    moved = fresh(visit.id)
    assert (moved.provider_id, moved.start_at, moved.location.timezone) == (
        clinic.chen, datetime.fromisoformat(start), "America/New_York")


def test_a_provider_moves_only_within_their_own_agenda(app, client, clinic):
    visit = weber_visit(clinic)
    as_user(client, "weber")
    body = page_text(client.get(f"/staff/bookings/{visit.id}/reschedule"))
    assert "Dr. Maya Chen" not in body and times_on(body)
    assert client.get(f"/staff/bookings/{visit.id}/reschedule?provider_id={clinic.chen}").status_code == 404
    answer = client.post(f"/staff/bookings/{visit.id}/reschedule", data={
        "csrf_token": csrf_token(client, "/provider/"), "provider_id": str(clinic.chen), "start": times_on(body)[0]})
    assert answer.status_code == 404
    assert fresh(visit.id).provider_id == clinic.weber and fresh(visit.id).reschedule_count == 0


def test_a_time_that_is_not_free_is_refused_with_a_message_and_nothing_moves(app, client, clinic):
    visit = weber_visit(clinic)
    night = (visit.start_at + timedelta(days=1)).replace(hour=1, minute=0)  # nobody works at night
    as_user(client, "frontdesk")
    answer = client.post(f"/staff/bookings/{visit.id}/reschedule", data={
        "csrf_token": csrf_token(client, f"/staff/bookings/{visit.id}/reschedule"), "provider_id": str(clinic.weber),
        "start": night.isoformat()})
    page = follow(client, answer)
    assert f"/staff/bookings/{visit.id}/reschedule" in answer.headers["Location"]
    assert any(kind == "warning" for kind, _ in flashes(page))
    assert fresh(visit.id).start_at == visit.start_at and [e.action for e in events_of(visit.id)] == ["seeded"]


def test_a_bad_start_is_a_400_and_a_finished_visit_cannot_be_moved(app, client, clinic):
    visit = weber_visit(clinic)
    as_user(client, "frontdesk")
    token = csrf_token(client, f"/staff/bookings/{visit.id}/reschedule")
    for start in ("tomorrow", "2030-01-01T10:00"):  # not a time; no zone
        answer = client.post(f"/staff/bookings/{visit.id}/reschedule", data={
            "csrf_token": token, "provider_id": str(clinic.weber), "start": start})
        assert answer.status_code == 400
    done = db.session.scalars(select(Booking).where(Booking.status == "completed")).first()
    assert client.get(f"/staff/bookings/{done.id}/reschedule").status_code == 302


def test_the_move_page_opens_on_the_visits_day_and_says_when_a_clinician_moves_it_elsewhere(app, client, clinic):
    from zoneinfo import ZoneInfo

    with app.app_context():
        visit = weber_visit(clinic)
        visit_id, own_day = visit.id, visit.start_at.astimezone(ZoneInfo("Europe/Berlin")).date()
    as_user(client, "frontdesk")
    same = client.get(f"/staff/bookings/{visit_id}/reschedule").get_data(as_text=True)
    assert f'date={own_day.isoformat()}' in re.search(r'class="day active"[^>]*href="[^"]+"|href="[^"]+"[^>]*'
                                                      r'aria-current="date"', same).group(0)
    assert 'id="location-change"' not in same and "at Berlin Mitte (Europe/Berlin)" in same
    other = client.get(f"/staff/bookings/{visit_id}/reschedule?provider_id={clinic.chen}").get_data(as_text=True)
    note = re.search(r'id="location-change">(.*?)</p>', other, re.S).group(1)
    assert "New York Midtown" in note and "from Berlin Mitte" in " ".join(note.split())
