"""Blocks and time off, managed (issue 12, item 3): a provider lists, adds (several days at
once), edits and deletes their blocked time, past days refused; sees their time-off
requests and decisions, withdraws a pending one, is emailed the decision, and finds the
visits inside approved time off to move them. Managers edit a provider's weekly hours
with the provider's own editor.

Demo facts (app/demo_seed.py): Dr. Anna Weber works Monday-Friday 08:00-16:00 in Berlin
and has Paula Patient's consultation next Tuesday 09:00.
"""
from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.accounts import find_user_by_email
from app.clinic import setup
from app.database import write_transaction
from app.demo_seed import DOMAIN
from app.extensions import db
from app.models import AvailabilityException, AvailabilityRule, AvailabilitySlot, Booking, Notification, TimeOff, utcnow
from app.notifications.dispatch import send_one
from tests.integration.booking_helpers import at, load_clinic
from tests.integration.helpers import csrf_token, page_text, seed_demo_clinic, sign_in_as
from tests.integration.test_notifications import mail, sink  # noqa: F401 - fixtures
from tests.integration.test_staff_pages import flashes, follow

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def clinic(app, db_session, monkeypatch):
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        return load_clinic()


def as_user(client, key: str) -> None:
    sign_in_as(client, find_user_by_email(f"{key}@{DOMAIN}"))


def working_day(ahead: int) -> date:
    day = utcnow().astimezone(BERLIN).date()
    while ahead:
        day += timedelta(days=1)
        ahead -= day.isoweekday() <= 5
    return day


def blocks_of(provider_id) -> list[AvailabilityException]:
    return list(db.session.scalars(select(AvailabilityException).where(
        AvailabilityException.provider_id == provider_id, AvailabilityException.status == "blocked")
        .order_by(AvailabilityException.start_at).execution_options(populate_existing=True)))


def open_at(provider_id, type_id, start) -> bool:
    return db.session.scalar(select(func.count()).select_from(AvailabilitySlot).where(
        AvailabilitySlot.provider_id == provider_id, AvailabilitySlot.appointment_type_id == type_id,
        AvailabilitySlot.start_at == start, AvailabilitySlot.status.in_(("open", "partial")))) > 0


def post(client, url: str, page: str, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, page), **data})


# --- blocks --------------------------------------------------------------------------------------

def test_a_provider_blocks_the_same_hours_on_several_days_and_the_times_close(app, client, clinic):
    first, last = working_day(3), working_day(5)
    assert open_at(clinic.weber, clinic.consult, at(first, "14:00"))
    as_user(client, "weber")

    answer = post(client, "/provider/blocks", "/provider/blocks", form_token="blocks-1", date=first.isoformat(),
                  last_day=last.isoformat(), start_time="14:00", end_time="15:30", reason="Team training")

    days = (last - first).days + 1
    assert ("success", f"Blocked 14:00–15:30 on {days} days. Patients can no longer book it.") in flashes(
        follow(client, answer))
    made = blocks_of(clinic.weber)
    assert [(b.start_at, b.end_at) for b in made] == [
        (at(first + timedelta(days=i), "14:00"), at(first + timedelta(days=i), "15:30")) for i in range(days)]
    assert not open_at(clinic.weber, clinic.consult, at(first, "14:00"))
    body = page_text(client.get("/provider/blocks"))
    assert body.count('class="list-item block-item"') == days and "Team training" in body


def test_blocking_over_a_booked_visit_names_it_and_leaves_it_booked(app, client, clinic):
    from app.models import Booking

    with app.app_context():
        visit = db.session.scalars(select(Booking).where(
            Booking.provider_id == clinic.weber, Booking.status == "confirmed", Booking.start_at > utcnow())
            .order_by(Booking.start_at)).first()
        local, name = visit.start_at.astimezone(BERLIN), visit.contact_name
    as_user(client, "weber")
    answer = post(client, "/provider/blocks", "/provider/blocks", form_token="over-visit-1",
                  date=local.date().isoformat(), start_time=f"{local:%H:%M}",
                  end_time=f"{(local + timedelta(minutes=30)):%H:%M}")
    said = flashes(follow(client, answer))
    [warning] = [text for kind, text in said if kind == "warning"]
    assert f"{local:%a %d %b %H:%M} {name}" in warning and "stay booked" in warning
    with app.app_context():
        assert db.session.get(Booking, visit.id).status == "confirmed"


@pytest.mark.parametrize(("fields", "message"), [
    ({"date": "yesterday"}, "That day has passed."),  # replaced below by a real past date
    ({"start_time": "15:00", "end_time": "14:00"}, "The end must be after the start on the same day."),
    ({"last_day": "+40"}, "Block at most 31 days at once"),
    ({"start_time": "noon"}, "Give a day and a start and end time like 12:30."),
])
def test_bad_blocks_are_refused_with_a_message_and_write_nothing(app, client, clinic, fields, message):
    today = utcnow().astimezone(BERLIN).date()
    data = {"date": working_day(2).isoformat(), "start_time": "10:00", "end_time": "11:00", **fields}
    if data["date"] == "yesterday":
        data["date"] = (today - timedelta(days=1)).isoformat()
    if data.get("last_day") == "+40":
        data["last_day"] = (working_day(2) + timedelta(days=40)).isoformat()
    as_user(client, "weber")
    answer = post(client, "/provider/blocks", "/provider/blocks", **data)
    assert any(kind == "warning" and text.startswith(message) for kind, text in flashes(follow(client, answer)))
    assert blocks_of(clinic.weber) == []


def test_a_block_is_edited_and_deleted_and_the_time_opens_again(app, client, clinic):
    day = working_day(3)
    with app.app_context():
        from app.clinic import blocks

        made, = blocks.add_blocks(clinic.organization_id, clinic.weber, first_day=day, last_day=None,
                                  start_time=at(day, "10:00").astimezone(BERLIN).time(),
                                  end_time=at(day, "11:00").astimezone(BERLIN).time(), reason="Old",
                                  created_by_id=None, today=utcnow().astimezone(BERLIN).date())
        block_id = made.id
    as_user(client, "weber")
    answer = post(client, f"/provider/blocks/{block_id}", "/provider/blocks", form_token="edit-1",
                  date=day.isoformat(), start_time="13:00", end_time="14:00", reason="Moved")
    assert ("success", "Block saved.") in flashes(follow(client, answer))
    block, = blocks_of(clinic.weber)
    assert (block.start_at, block.end_at, block.reason) == (at(day, "13:00"), at(day, "14:00"), "Moved")
    assert open_at(clinic.weber, clinic.consult, at(day, "10:00"))
    assert not open_at(clinic.weber, clinic.consult, at(day, "13:00"))

    answer = post(client, f"/provider/blocks/{block_id}/delete", "/provider/blocks", form_token="delete-1")

    assert ("success", "Block removed. Patients can book that time again.") in flashes(follow(client, answer))
    assert blocks_of(clinic.weber) == [] and open_at(clinic.weber, clinic.consult, at(day, "13:00"))


def test_a_provider_cannot_touch_another_providers_block(app, client, clinic):
    day = working_day(3)
    with app.app_context():
        block = setup.add_exception(clinic.organization_id, provider_id=clinic.fischer, status="blocked",
                                    start_at=at(day, "10:00"), end_at=at(day, "11:00"))
        block_id = block.id
    as_user(client, "weber")
    answer = post(client, f"/provider/blocks/{block_id}/delete", "/provider/blocks")
    assert ("warning", "No such block.") in flashes(follow(client, answer))
    assert len(blocks_of(clinic.fischer)) == 1
    assert f"block-{block_id}" not in page_text(client.get("/provider/blocks"))


# --- time off ------------------------------------------------------------------------------------

def request_off(clinic, first: date, last: date, status: str = "pending") -> TimeOff:
    with write_transaction():
        item = TimeOff(organization_id=clinic.organization_id, provider_id=clinic.weber,
                       start_at=at(first, "00:00"), end_at=at(last + timedelta(days=1), "00:00"), status=status,
                       reason="Conference")
        db.session.add(item)
    return item


def test_the_provider_sees_their_requests_and_withdraws_a_pending_one(app, client, clinic):
    with app.app_context():
        pending = request_off(clinic, working_day(20), working_day(22)).id
        rejected = request_off(clinic, working_day(30), working_day(30), "rejected").id
    as_user(client, "weber")
    body = page_text(client.get("/provider/time-off"))
    assert f'id="time-off-{pending}"' in body and f'id="time-off-{rejected}"' in body
    assert "awaiting decision" in body and "not approved" in body

    answer = post(client, f"/provider/time-off/{pending}/withdraw", "/provider/time-off", form_token="w-1")
    assert ("success", "Request withdrawn.") in flashes(follow(client, answer))
    assert db.session.get(TimeOff, pending) is None

    answer = post(client, f"/provider/time-off/{rejected}/withdraw", "/provider/time-off", form_token="w-2")
    assert ("warning", "This request is already rejected; ask a manager to change it.") in flashes(
        follow(client, answer))
    assert db.session.get(TimeOff, rejected) is not None


def test_another_providers_request_cannot_be_withdrawn(app, client, clinic):
    with app.app_context():
        item_id = request_off(clinic, working_day(20), working_day(21)).id
    as_user(client, "fischer")
    answer = post(client, f"/provider/time-off/{item_id}/withdraw", "/provider/time-off")
    assert answer.status_code == 303 and db.session.get(TimeOff, item_id) is not None


@pytest.mark.parametrize(("decision", "subject"), [("approve", "Time off approved"),
                                                   ("reject", "Time off not approved")])
def test_the_provider_is_emailed_the_decision(app, client, clinic, mail, decision, subject):
    with app.app_context():
        tuesday_visit = db.session.scalars(select(Booking).where(Booking.provider_id == clinic.weber,
                                                                 Booking.status == "confirmed")).one()
        visit_day = tuesday_visit.start_at.astimezone(BERLIN).date()
        item_id = request_off(clinic, visit_day, visit_day + timedelta(days=1)).id
    as_user(client, "manager")
    answer = post(client, f"/admin/time-off/{item_id}/{decision}", "/admin/time-off", form_token=f"d-{decision}")
    assert answer.status_code == 303
    row = db.session.scalars(select(Notification).where(Notification.template == "time_off_decided")).one()
    assert row.booking_id is None and row.recipient == f"weber@{DOMAIN}" and row.status == "pending"
    with app.app_context():
        assert send_one(row.id) == "sent"
    message = mail.wait_for(1)[0]
    assert message.to == f"weber@{DOMAIN}" and message.subject.startswith(subject)
    body = message.message.get_body(("plain",)).get_content()
    if decision == "approve":
        assert "1 visit already booked falls inside it" in body
    else:
        assert "Patients can still book you" in body


def test_approved_time_off_lists_the_visits_inside_it_to_reschedule(app, client, clinic):
    with app.app_context():
        visit = db.session.scalars(select(Booking).where(Booking.provider_id == clinic.weber,
                                                         Booking.status == "confirmed")).one()
        visit_id, day = visit.id, visit.start_at.astimezone(BERLIN).date()
        item_id = request_off(clinic, day, day, "approved").id
    as_user(client, "weber")
    body = page_text(client.get("/provider/time-off"))
    inside = body[body.index(f'id="time-off-{item_id}"'):]
    assert f'id="inside-{visit_id}"' in inside and f"/staff/bookings/{visit_id}/reschedule?back=" in inside
    as_user(client, "manager")
    admin = page_text(client.get("/admin/time-off"))
    assert f'id="inside-{visit_id}"' in admin


# --- a manager edits a provider's weekly hours -----------------------------------------------------

def test_a_manager_edits_a_providers_hours_with_the_same_editor(app, client, clinic):
    as_user(client, "manager")
    page = client.get(f"/admin/providers/{clinic.weber}/hours")
    body = page_text(page)
    assert page.status_code == 200 and "When patients can book Dr. Anna Weber at Berlin Mitte" in body
    assert f'action="/admin/providers/{clinic.weber}/hours"' in body
    assert f'hx-post="/admin/providers/{clinic.weber}/hours/preview"' in body
    data = {"csrf_token": csrf_token(client, f"/admin/providers/{clinic.weber}/hours"), "form_token": "hours-1",
            "location_id": str(clinic.berlin_id), "parallel_sessions": "1"}
    for number in range(1, 8):
        if number <= 4:
            data |= {f"day{number}-works": "y", f"day{number}-start": "09:00", f"day{number}-end": "15:00"}

    answer = client.post(f"/admin/providers/{clinic.weber}/hours", data=data)

    assert answer.status_code == 303 and answer.headers["Location"].endswith(
        f"/admin/providers/{clinic.weber}/hours?location={clinic.berlin_id}")
    rules = db.session.scalars(select(AvailabilityRule).where(AvailabilityRule.provider_id == clinic.weber)
                               .execution_options(populate_existing=True)).all()
    assert [(r.weekdays, r.start_time.isoformat(), r.end_time.isoformat()) for r in rules] == [
        ([1, 2, 3, 4], "09:00:00", "15:00:00")]
    fischer_rules = db.session.scalar(select(func.count()).select_from(AvailabilityRule).where(
        AvailabilityRule.provider_id == clinic.fischer))
    assert fischer_rules == 2  # nobody else's hours changed


def test_the_admin_hours_of_an_unknown_provider_are_404(app, client, clinic):
    import uuid

    as_user(client, "manager")
    assert client.get(f"/admin/providers/{uuid.uuid4()}/hours").status_code == 404
