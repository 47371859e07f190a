"""Rooms are shared resources (invariant 1): a booking in a room takes it away from every
provider whose hours use that room. The clinic is built through the admin API; bookings
are made and moved through the user API, as a patient would."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import AvailabilitySlot, Booking
from tests.integration.api_helpers import (
    Api, assert_error, cheap_hashing, local_iso, make_organization, make_user, next_weekday, parse, token, utc_z,
)

TZ = "Europe/Berlin"
ADMIN = "/api/admin/v1"


@pytest.fixture
def admin(app, client, monkeypatch) -> Api:
    cheap_hashing(monkeypatch)
    organization_id = make_organization(app, "Shared Rooms Clinic")
    api = Api(client, token(client, make_user(app, organization_id, "admin")))
    api.organization_id = organization_id
    return api


def _clinic(admin: Api, capacity: int, providers: int) -> SimpleNamespace:
    """One location, one room of `capacity`, `providers` clinicians whose Monday-Friday
    09:00-12:00 hours all use that room, one 60-minute type offered by all of them."""
    location = admin.created(f"{ADMIN}/locations", {"name": "Main Street", "timezone": TZ})
    room = admin.created(f"{ADMIN}/rooms", {"location_id": location["id"], "name": "Room 1",
                                            "capacity": capacity, "is_virtual": False})
    people = [admin.created(f"{ADMIN}/providers", {"name": f"Dr. {name}", "location_ids": [location["id"]]})
              for name in ("Adler", "Berg", "Conrad")[:providers]]
    kind = admin.created(f"{ADMIN}/appointment-types", {
        "name": "Check-up", "duration_minutes": 60, "provider_ids": [p["id"] for p in people],
        "min_notice_minutes": 0, "mode": "in_person"})
    for person in people:
        admin.created(f"{ADMIN}/availabilities", {
            "kind": "weekly", "provider_id": person["id"], "location_id": location["id"], "room_id": room["id"],
            "days_of_week": [1, 2, 3, 4, 5], "start_time": "09:00", "end_time": "12:00"})
    day = next_weekday(TZ)
    return SimpleNamespace(location=location, room_id=uuid.UUID(room["id"]), providers=[p["id"] for p in people],
                           type_id=kind["id"],
                           day=day, ten=local_iso(day, "10:00", TZ))


def _offered(api: Api, clinic, provider_id: str) -> list[str]:
    slots = api.all_slots({"appointment_type_id": clinic.type_id, "provider_id": provider_id,
                           "date": clinic.day.isoformat(), "timezone": TZ})
    return [s["start"] for s in slots]


def _hold(api: Api, clinic, provider_id: str, start: str, name: str = "Pat Guest"):
    return api.post("/api/v1/bookings", {"provider_id": provider_id, "appointment_type_id": clinic.type_id,
                                         "start": start, "name": name, "email": "pat@example.com"})


def _utc(iso: str) -> str:
    return utc_z(parse(iso))


def test_a_booking_of_one_provider_takes_the_shared_room_from_the_other(admin, client):
    clinic = _clinic(admin, capacity=1, providers=2)
    adler, berg = clinic.providers
    guest = Api(client)
    ten = _utc(clinic.ten)
    assert ten in _offered(guest, clinic, berg)

    held = _hold(guest, clinic, adler, clinic.ten)
    assert held.status_code == 201, held.get_json()
    confirmed = guest.post(f"/api/v1/bookings/{held.get_json()['id']}/confirm",
                           {"hold_token": held.get_json()["hold_token"]})
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "confirmed"

    assert ten not in _offered(guest, clinic, berg), "B still offers the time A's visit took the room for"
    assert ten not in _offered(guest, clinic, adler)
    before = db.session.scalar(select(db.func.count()).select_from(Booking))
    assert_error(_hold(guest, clinic, berg, clinic.ten), 409, "SLOT_FULL")
    assert db.session.scalar(select(db.func.count()).select_from(Booking)) == before
    # The materialized slot of B says full too: the change refreshed every provider using the room.
    row = db.session.scalar(select(AvailabilitySlot).where(
        AvailabilitySlot.provider_id == uuid.UUID(berg), AvailabilitySlot.appointment_type_id == uuid.UUID(clinic.type_id),
        AvailabilitySlot.start_at == parse(clinic.ten)))
    assert row is not None and row.status == "full"

    cancelled = guest.post(f"/api/v1/bookings/{held.get_json()['id']}/cancel",
                           {"hold_token": held.get_json()["hold_token"]})
    assert cancelled.status_code == 200, cancelled.get_json()
    assert ten in _offered(guest, clinic, berg), "a cancelled visit frees the room for everyone"


def test_a_room_of_capacity_two_serves_two_of_three_providers_at_once(admin, client):
    clinic = _clinic(admin, capacity=2, providers=3)
    guest = Api(client)
    ten = _utc(clinic.ten)
    first, second, third = clinic.providers
    assert _hold(guest, clinic, first, clinic.ten, "One").status_code == 201
    assert ten in _offered(guest, clinic, third)
    assert _hold(guest, clinic, second, clinic.ten, "Two").status_code == 201
    assert ten not in _offered(guest, clinic, third)
    assert_error(_hold(guest, clinic, third, clinic.ten, "Three"), 409, "SLOT_FULL")
    seats = sorted(b.room_seat for b in db.session.scalars(select(Booking).where(Booking.room_id == clinic.room_id)))
    assert seats == [0, 1]
    # Eleven o'clock is untouched by the ten o'clock visits.
    assert _utc(local_iso(clinic.day, "11:00", TZ)) in _offered(guest, clinic, third)


def test_a_reschedule_into_a_taken_shared_room_is_refused_and_moves_nothing(admin, client):
    clinic = _clinic(admin, capacity=1, providers=2)
    adler, berg = clinic.providers
    guest = Api(client)
    taken = _hold(guest, clinic, adler, clinic.ten, "First").get_json()
    guest.post(f"/api/v1/bookings/{taken['id']}/confirm", {"hold_token": taken["hold_token"]})
    eleven = local_iso(clinic.day, "11:00", TZ)
    mover = _hold(guest, clinic, berg, eleven, "Second").get_json()
    assert guest.post(f"/api/v1/bookings/{mover['id']}/confirm", {"hold_token": mover["hold_token"]}).status_code == 200

    staff = Api(client, admin.bearer)
    refused = staff.post(f"/api/v1/bookings/{mover['id']}/reschedule", {"start": clinic.ten})
    assert_error(refused, 409, "SLOT_FULL")
    assert db.session.get(Booking, uuid.UUID(mover["id"])).start_at == parse(eleven)


def test_the_postgresql_guard_refuses_a_second_booking_on_a_room_place(admin, client, backend):
    if backend == "sqlite":  # SQLite serialises every writer (BEGIN IMMEDIATE); the guard is PostgreSQL's
        schema = db.session.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'bookings'"))
        assert "room_seat" in schema and "ex_bookings_room_seat_overlap" not in schema
        return
    clinic = _clinic(admin, capacity=1, providers=2)
    adler, berg = clinic.providers
    guest = Api(client)
    won = _hold(guest, clinic, adler, clinic.ten).get_json()
    row = db.session.get(Booking, uuid.UUID(won["id"]))
    values = {column: getattr(row, column) for column in (
        "organization_id", "appointment_type_id", "location_id", "room_id", "start_at", "end_at",
        "block_start_at", "block_end_at", "patient_timezone", "provider_timezone")}
    insert = text(
        "INSERT INTO bookings (id, organization_id, guest_name, provider_id, appointment_type_id, location_id, "
        "room_id, start_at, end_at, block_start_at, block_end_at, status, hold_expires_at, reschedule_count, seat, "
        "room_seat, source, patient_timezone, provider_timezone, created_at, updated_at) VALUES (gen_random_uuid(), "
        ":organization_id, 'Bypass', :provider_id, :appointment_type_id, :location_id, :room_id, :start_at, :end_at, "
        ":block_start_at, :block_end_at, 'confirmed', NULL, 0, 0, :room_seat, 'api', :patient_timezone, "
        ":provider_timezone, now(), now())")
    for room_seat, guard in ((0, "ex_bookings_room_seat_overlap"), (1, "bookings_room_capacity")):
        savepoint = db.session.begin_nested()
        with pytest.raises(Exception) as caught:
            db.session.execute(insert, {**values, "provider_id": berg, "room_seat": room_seat})
        savepoint.rollback()
        assert guard in str(caught.value)
