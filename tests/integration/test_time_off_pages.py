"""Providers request time off on their console; managers approve or reject it. Approval
blocks the time for booking and names the visits inside it."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AvailabilitySlot, Provider, TimeOff, utcnow
from tests.integration.helpers import csrf_token, login


def _weber_open_slots_on(app, day) -> int:
    with app.app_context():
        weber = db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Anna Weber")).one()
        return db.session.scalar(select(func.count()).select_from(AvailabilitySlot).where(
            AvailabilitySlot.provider_id == weber.id, AvailabilitySlot.local_date == day,
            AvailabilitySlot.status.in_(("open", "partial"))))


def _next_tuesday():
    day = utcnow().date() + timedelta(days=1)
    while day.isoweekday() != 2:
        day += timedelta(days=1)
    return day


def test_a_request_blocks_nothing_until_a_manager_approves_it_and_approval_names_the_visits(app, demo, client):
    tuesday = _next_tuesday()  # the demo patient has a visit with Dr. Weber at 09:00 that day
    before = _weber_open_slots_on(app, tuesday)
    assert before > 0
    login(client, "weber@riverside.example")
    answer = client.post("/provider/time-off", data={"csrf_token": csrf_token(client, "/provider/"),
                                                     "form_token": "off-request-1", "first_day": tuesday.isoformat(),
                                                     "reason": "Conference"})
    assert answer.status_code == 303
    assert _weber_open_slots_on(app, tuesday) == before  # pending: patients can still book
    with app.app_context():
        request_id = db.session.scalars(select(TimeOff.id).where(TimeOff.status == "pending")).one()

    manager = app.test_client()
    login(manager, "manager@riverside.example")
    page = manager.get("/admin/time-off").get_data(as_text=True)
    assert "Conference" in page and "Dr. Anna Weber" in page
    approved = manager.post(f"/admin/time-off/{request_id}/approve",
                            data={"csrf_token": csrf_token(manager, "/admin/time-off"), "form_token": "off-ok-1"},
                            follow_redirects=True)
    text = approved.get_data(as_text=True)
    assert "need attention" in text and "Paula Patient" in text
    assert _weber_open_slots_on(app, tuesday) == 0
    again = manager.post(f"/admin/time-off/{request_id}/reject",
                         data={"csrf_token": csrf_token(manager, "/admin/time-off"), "form_token": "off-no-1"},
                         follow_redirects=True)
    assert "already approved" in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("not-a-date", ""),          # unreadable
        ("2030-01-10", "2030-01-05"),  # last day before the first
    ],
)
def test_a_malformed_time_off_request_is_explained_and_writes_nothing(app, demo, client, first, last):
    login(client, "weber@riverside.example")
    answer = client.post("/provider/time-off", data={"csrf_token": csrf_token(client, "/provider/"),
                                                     "form_token": f"off-bad-{first}", "first_day": first,
                                                     "last_day": last}, follow_redirects=True)
    assert answer.status_code == 200 and "flash-warning" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TimeOff)) == 0


@pytest.mark.parametrize(("email", "status"), [
    ("frontdesk@riverside.example", 403),  # the front desk does not approve time off
    ("weber@riverside.example", 403),      # nor do providers (their own included)
    ("manager@riverside.example", 200),
])
def test_only_managers_and_admins_see_the_time_off_page(app, demo, client, email, status):
    login(client, email)
    assert client.get("/admin/time-off").status_code == status
