"""Every booking action by every role against a foreign provider: a provider acts only in
their own agenda (moving a visit into another clinician's agenda is 403 and changes
nothing); the clinic's desk, managers and admins may move a visit to any clinician who
offers the type; a provider's actions on another provider's visit are 404."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from app.demo_seed import DOMAIN
from tests.integration.api_helpers import Api, assert_error, cheap_hashing, minted_token
from tests.integration.booking_helpers import day_ahead, load_clinic, snapshot
from tests.integration.helpers import seed_demo_clinic

V1 = "/api/v1"
ROLES = ("admin", "manager", "frontdesk", "weber", "chen", "patient")
MAY_MOVE_ANYWHERE = {"admin": True, "manager": True, "frontdesk": True, "weber": False, "patient": True}


@pytest.fixture
def demo(app, client, db_session, monkeypatch) -> SimpleNamespace:
    seed_demo_clinic(app, monkeypatch)
    cheap_hashing(monkeypatch)
    with app.app_context():
        clinic = load_clinic()
    ns = SimpleNamespace(app=app, clinic=clinic, day=day_ahead(3))
    for role in ROLES:
        setattr(ns, role, Api(client, minted_token(app, f"{role}@{DOMAIN}")))
    return ns


def _state(app) -> dict:
    with app.app_context():
        return snapshot()


def _weber_booking(demo, status: str = "confirmed") -> dict:
    """A visit of the demo patient with Dr. Weber (pending when it needs approval)."""
    patient = demo.patient
    slots = patient.all_slots({"appointment_type_id": str(demo.clinic.consult), "provider_id": str(demo.clinic.weber),
                               "date": demo.day.isoformat()})
    held = patient.created(f"{V1}/bookings", {"slot_id": slots[0]["id"]})
    return patient.ok(patient.post(f"{V1}/bookings/{held['id']}/confirm", {}))


def _chen_slot(demo) -> dict:
    for offset in range(3, 14):
        day = demo.day + timedelta(days=offset - 3)
        slots = demo.patient.all_slots({"appointment_type_id": str(demo.clinic.consult),
                                        "provider_id": str(demo.clinic.chen), "date": day.isoformat()})
        if slots:
            return slots[0]
    raise AssertionError("Dr. Chen offers no consultation in the next two weeks")


@pytest.mark.parametrize("role", sorted(MAY_MOVE_ANYWHERE))
def test_moving_a_visit_into_another_providers_agenda_needs_the_right_to_act_for_that_provider(demo, role):
    booking = _weber_booking(demo)
    target = _chen_slot(demo)
    api = getattr(demo, role)
    if MAY_MOVE_ANYWHERE[role]:
        moved = api.ok(api.post(f"{V1}/bookings/{booking['id']}/reschedule", {"slot_id": target["id"]}))
        assert moved["provider_id"] == str(demo.clinic.chen) and moved["start"] == target["start"]
        return
    before = _state(demo.app)
    assert_error(api.post(f"{V1}/bookings/{booking['id']}/reschedule", {"slot_id": target["id"]}), 403, "FORBIDDEN")
    assert _state(demo.app) == before
    after = demo.patient.ok(demo.patient.get(f"{V1}/bookings/{booking['id']}"))
    assert after["provider_id"] == str(demo.clinic.weber) and after["start"] == booking["start"]


@pytest.mark.parametrize("action, body", [
    ("accept", {}), ("decline", {"reason": "no"}), ("cancel", {"reason": "no"}), ("reschedule", {"start": None}),
    ("confirm", {}),
])
def test_a_provider_cannot_touch_another_providers_visit(demo, action, body):
    booking = _weber_booking(demo)
    if "start" in body:
        body = {"start": booking["start"]}
    before = _state(demo.app)
    assert_error(demo.chen.post(f"{V1}/bookings/{booking['id']}/{action}", body), 404, "NOT_FOUND")
    assert_error(demo.chen.get(f"{V1}/bookings/{booking['id']}"), 404, "NOT_FOUND")
    assert _state(demo.app) == before


def test_a_provider_still_moves_their_own_visit_within_their_agenda(demo):
    booking = _weber_booking(demo)
    later = demo.patient.all_slots({"appointment_type_id": str(demo.clinic.consult),
                                    "provider_id": str(demo.clinic.weber), "date": demo.day.isoformat()})[-1]
    moved = demo.weber.ok(demo.weber.post(f"{V1}/bookings/{booking['id']}/reschedule", {"slot_id": later["id"]}))
    assert moved["provider_id"] == str(demo.clinic.weber) and moved["start"] == later["start"]
