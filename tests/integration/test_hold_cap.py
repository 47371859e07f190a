"""No hoarding: one person (patient account, guest email, guest phone, browser session)
holds at most the organization's `max_live_holds` (default 3) at once, through the pages
and through the API; refused with 409 POLICY_VIOLATION (a friendly message on pages).
A family or clinic sharing one network address is not limited as one; staff holds are
neither capped nor counted; confirmed visits no longer count. Two concurrent holds of one
person cannot both slip under the cap (PostgreSQL takes a per-person advisory lock).
"""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import create_app
from app.booking.actors import Actor
from app.booking.hold import Contact, hold
from app.database import write_transaction
from app.demo_seed import DOMAIN
from app.errors import BookwellError
from app.extensions import db
from app.models import AppointmentType, AvailabilitySlot, Booking, Organization, Provider, utcnow
from tests.conftest import _config
from tests.integration.api_helpers import Api, assert_error, cheap_hashing, minted_token
from tests.integration.helpers import csrf_token, login, page_text, seed_demo_clinic

V1 = "/api/v1"


@pytest.fixture
def demo(app, db_session, monkeypatch):
    seed_demo_clinic(app, monkeypatch)
    cheap_hashing(monkeypatch)


def free_slots(app, count: int, clinician: str = "Dr. Anna Weber") -> list[dict]:
    """`count` open consultation times of `clinician` at least an hour apart, 3+ days ahead."""
    with app.app_context():
        provider = db.session.scalars(select(Provider).where(Provider.display_name == clinician)).one()
        kind = db.session.scalars(select(AppointmentType).where(AppointmentType.name == "General consultation")).one()
        rows = db.session.scalars(select(AvailabilitySlot).where(
            AvailabilitySlot.provider_id == provider.id, AvailabilitySlot.appointment_type_id == kind.id,
            AvailabilitySlot.status == "open", AvailabilitySlot.start_at > utcnow() + timedelta(days=3),
        ).order_by(AvailabilitySlot.start_at)).all()
        chosen = []
        for row in rows:
            if not chosen or row.start_at - chosen[-1].start_at >= timedelta(hours=1):
                chosen.append(row)
            if len(chosen) == count:
                break
        assert len(chosen) == count
        return [{"provider_id": str(provider.id), "appointment_type_id": str(kind.id),
                 "location_id": str(row.location_id), "start": row.start_at.isoformat()} for row in chosen]


def live_holds(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Booking).where(Booking.status == "held"))


def page_hold(client, slot: dict, n: int):
    return client.post("/book/hold", data={**slot, "back": "/book", "csrf_token": csrf_token(client, "/book"),
                                           "form_token": f"hold-form-{n}"})


def held_on_page(answer) -> bool:
    return answer.status_code == 303 and "/book/confirm/" in answer.headers["Location"]


def guest_body(slot: dict, email: str = "rita@example.com", phone: str = "+4915112345671") -> dict:
    return {**slot, "name": "Rita Guest", "email": email, "phone": phone}


def test_one_browser_session_holds_at_most_three_on_the_pages_and_its_neighbour_is_not_limited(app, demo):
    slots = free_slots(app, 7)
    browser, neighbour = app.test_client(), app.test_client()  # same address (127.0.0.1), two sessions
    assert all(held_on_page(page_hold(browser, slot, n)) for n, slot in enumerate(slots[:3]))
    before = live_holds(app)

    refused = page_hold(browser, slots[3], 3)

    assert refused.status_code == 303 and refused.headers["Location"] == "/book"  # back to the finder
    assert "You are already holding 3 times" in page_text(browser.get("/book"))
    assert live_holds(app) == before
    # A family member on the same network address holds their own three.
    assert all(held_on_page(page_hold(neighbour, slot, 10 + n)) for n, slot in enumerate(slots[3:6]))
    assert not held_on_page(page_hold(neighbour, slots[6], 20))


def test_a_patient_account_is_capped_across_browsers_and_the_api(app, demo):
    slots = free_slots(app, 5)
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, f"patient@{DOMAIN}")
    login(phone, f"patient@{DOMAIN}")
    assert held_on_page(page_hold(laptop, slots[0], 0))
    assert held_on_page(page_hold(phone, slots[1], 1))
    api = Api(app.test_client(), minted_token(app, f"patient@{DOMAIN}"))
    assert api.post(f"{V1}/bookings", slots[2]).status_code == 201

    assert not held_on_page(page_hold(phone, slots[3], 3))
    assert_error(api.post(f"{V1}/bookings", slots[4]), 409, "POLICY_VIOLATION")
    # Another patient is a different person.
    olivia = Api(app.test_client(), minted_token(app, f"olivia@{DOMAIN}"))
    assert olivia.post(f"{V1}/bookings", slots[4]).status_code == 201


def test_a_guest_is_capped_by_email_and_by_phone_through_the_api(app, demo):
    slots = free_slots(app, 8)
    guest = Api(app.test_client())
    for slot in slots[:3]:
        assert guest.post(f"{V1}/bookings", guest_body(slot)).status_code == 201
    before = live_holds(app)

    same_email = guest.post(f"{V1}/bookings", guest_body(slots[3], email=" RITA@Example.com ",
                                                         phone="+4915112345672"))
    same_phone = guest.post(f"{V1}/bookings", guest_body(slots[3], email="other@example.com",
                                                         phone="+49 151 12345671"))

    error = assert_error(same_email, 409, "POLICY_VIOLATION")
    assert "already holding 3" in error["message"] and error["details"] == {"max_live_holds": 3}
    assert_error(same_phone, 409, "POLICY_VIOLATION")
    assert live_holds(app) == before
    # Someone else from the same address is not refused.
    for slot in slots[3:6]:
        assert guest.post(f"{V1}/bookings", guest_body(slot, "sam@example.com", "+4915112345673")).status_code == 201


def test_staff_holds_are_neither_capped_nor_counted_and_confirmed_visits_free_a_place(app, demo):
    slots = free_slots(app, 7)
    desk = Api(app.test_client(), minted_token(app, f"frontdesk@{DOMAIN}"))
    for slot in slots[:4]:  # the front desk books four for the same caller: no cap for staff
        assert desk.post(f"{V1}/bookings", guest_body(slot)).status_code == 201
    guest = Api(app.test_client())
    held = [guest.created(f"{V1}/bookings", guest_body(slot)) for slot in slots[4:7]]  # staff holds not counted
    assert_error(guest.post(f"{V1}/bookings", guest_body(free_slots(app, 8)[7])), 409, "POLICY_VIOLATION")

    confirmed = guest.post(f"{V1}/bookings/{held[0]['id']}/confirm", {"hold_token": held[0]["hold_token"]})
    assert confirmed.status_code == 200

    assert guest.post(f"{V1}/bookings", guest_body(free_slots(app, 8)[7])).status_code == 201


def test_the_cap_is_the_organizations_setting_on_the_admin_page(app, demo):
    admin = app.test_client()
    login(admin, f"admin@{DOMAIN}")
    settings = admin.post("/admin/settings", data={"csrf_token": csrf_token(admin, "/admin/settings"),
                                                   "form_token": "settings-1", "name": "Riverside Health",
                                                   "slot_exposure_enabled": "y", "hold_minutes": "10",
                                                   "max_live_holds": "1"})
    assert settings.status_code == 303
    with app.app_context():
        assert db.session.scalars(select(Organization.max_live_holds)).first() == 1
    slots = free_slots(app, 2)
    browser = app.test_client()
    assert held_on_page(page_hold(browser, slots[0], 0))
    assert not held_on_page(page_hold(browser, slots[1], 1))
    assert "You are already holding 1 time." in page_text(browser.get("/book"))

    out_of_range = admin.post("/admin/settings", data={"csrf_token": csrf_token(admin, "/admin/settings"),
                                                       "form_token": "settings-2", "name": "Riverside Health",
                                                       "hold_minutes": "10", "max_live_holds": "0"})
    assert out_of_range.status_code == 422 and "Choose between 1 and 100 holds." in page_text(out_of_range)


def test_concurrent_holds_of_one_person_cannot_both_pass_the_cap(backend, fresh_database_url, redis_url, monkeypatch):
    """Four threads hold four different times (two providers) for one browser session with
    a cap of one at the same moment: exactly one wins."""
    app = create_app(_config(fresh_database_url, redis_url))
    try:
        seed_demo_clinic(app, monkeypatch)
        with app.app_context():
            org = db.session.scalars(select(Organization)).one()
            with write_transaction():
                db.session.get(Organization, org.id).max_live_holds = 1
            org_id = org.id
        slots = free_slots(app, 2) + free_slots(app, 2, "Dr. Maya Chen")  # two provider locks
        barrier, outcomes = threading.Barrier(len(slots)), []

        def attempt(slot):
            with app.app_context():
                barrier.wait()
                try:
                    hold(Actor.guest(org_id, session_key="one-browser"), contact=Contact(name="Rita"),
                         source="portal", provider_id=_uuid(slot["provider_id"]),
                         appointment_type_id=_uuid(slot["appointment_type_id"]),
                         start=_dt(slot["start"]), location_id=_uuid(slot["location_id"]))
                    outcomes.append("held")
                except BookwellError as error:
                    outcomes.append(error.code)
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=attempt, args=(slot,)) for slot in slots]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["POLICY_VIOLATION"] * 3 + ["held"]
        assert live_holds(app) == 1
    finally:
        with app.app_context():
            db.engine.dispose()


def _uuid(value: str):
    import uuid

    return uuid.UUID(value)


def _dt(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value)


@pytest.mark.parametrize("back", ["https://evil.example/x", "//evil.example/x", "/\\evil.example"])
def test_the_hold_forms_way_back_stays_on_this_site(app, client, demo, back):
    """Staff are sent back (they book for callers at the front desk), and so is a refused hold:
    to `back` only when it is a path of this site."""
    assert login(client, f"frontdesk@{DOMAIN}").status_code in (302, 303)
    [slot] = free_slots(app, 1)
    answer = client.post("/book/hold", data={**slot, "back": back, "csrf_token": csrf_token(client, "/book"),
                                             "form_token": "hold-back"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/book"
