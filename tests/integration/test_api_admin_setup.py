"""A clinic configured through the admin API alone, and what the user API then offers.

Every fixture step is an HTTP call (location, room, provider, type, rules); only
the booking that occupies a slot is written with the ORM, because booking
through the API is out of scope here. The engine runs on the real clock, so the
materialized dates are computed from today; the DST dates lie past the horizon
and are computed on demand (their ids are null).
"""
from __future__ import annotations

import uuid
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import delete

from app.database import write_transaction
from app.extensions import db
from app.models import AvailabilitySlot, Booking, utcnow
from tests.integration.api_helpers import (
    Api, assert_error, at, cheap_hashing, local_iso, local_times, local_today, make_organization, make_user,
    next_weekday, parse, row_counts, token,
)

TZ = "America/New_York"
ADMIN = "/api/admin/v1"


@pytest.fixture
def admin(app, client, monkeypatch) -> Api:
    cheap_hashing(monkeypatch)
    organization_id = make_organization(app, "Harbour Clinic")
    api = Api(client, token(client, make_user(app, organization_id, "admin")))
    api.organization_id = organization_id
    return api


@pytest.fixture
def clinic(admin) -> SimpleNamespace:
    """Location, room, provider and a 60-minute type, all created through the admin API."""
    location = admin.created(f"{ADMIN}/locations", {"name": "Harbour Street", "timezone": TZ,
                                                    "address": "1 Harbour St"})
    assert location["timezone"] == TZ and location["is_active"] is True
    room = admin.created(f"{ADMIN}/rooms", {"location_id": location["id"], "name": "Room 1", "capacity": 1,
                                            "is_virtual": False})
    assert room["location_id"] == location["id"]
    provider = admin.created(f"{ADMIN}/providers", {"name": "Dr. Ada Hart", "location_ids": [location["id"]],
                                                    "specialty": "General practice"})
    assert provider["location_ids"] == [location["id"]]
    assert provider["timezone"] == TZ  # taken from its first location
    kind = admin.created(f"{ADMIN}/appointment-types", {
        "name": "Check-up", "duration_minutes": 60, "provider_ids": [provider["id"]], "max_future_days": 730,
        "min_notice_minutes": 0, "mode": "in_person",
    })
    assert kind["provider_ids"] == [provider["id"]] and kind["duration_minutes"] == 60
    return SimpleNamespace(location=location, room=room, provider=provider, type=kind,
                           location_id=location["id"], provider_id=provider["id"], type_id=kind["id"])


def weekly_rule(admin: Api, clinic, days: list[int], start: str, end: str, breaks=()) -> dict:
    return admin.created(f"{ADMIN}/availabilities", {
        "kind": "weekly", "provider_id": clinic.provider_id, "location_id": clinic.location_id,
        "days_of_week": days, "start_time": start, "end_time": end,
        "breaks": [{"start_time": a, "end_time": b} for a, b in breaks], "parallel_sessions": 1,
    })


@pytest.fixture
def workday(admin, clinic) -> SimpleNamespace:
    """A 09:00–12:00 rule on a weekday inside the materialized horizon."""
    day = next_weekday(TZ)
    rule = weekly_rule(admin, clinic, [day.isoweekday()], "09:00", "12:00")
    assert rule["days_of_week"] == [day.isoweekday()] and (rule["start_time"], rule["end_time"]) == ("09:00", "12:00")
    return SimpleNamespace(day=day, rule=rule)


def add_confirmed_booking(app, admin: Api, clinic, start) -> str:
    """A confirmed one-hour booking, written with the ORM and committed like a service would."""
    with app.app_context():
        with write_transaction():
            booking = Booking(
                organization_id=admin.organization_id, guest_name="Walk In", source="staff", status="confirmed",
                provider_id=uuid.UUID(clinic.provider_id), appointment_type_id=uuid.UUID(clinic.type_id),
                location_id=uuid.UUID(clinic.location_id), start_at=start, end_at=start + timedelta(hours=1),
                block_start_at=start, block_end_at=start + timedelta(hours=1), confirmed_at=utcnow(),
            )
            db.session.add(booking)
        return str(booking.id)


def day_slots(admin: Api, clinic, day) -> list[dict]:
    return admin.all_slots({"appointment_type_id": clinic.type_id, "provider_id": clinic.provider_id,
                            "date": day.isoformat()})


def availability(admin: Api, clinic, first: str, last: str) -> list[dict]:
    body = admin.ok(admin.get(f"/api/v1/providers/{clinic.provider_id}/availability",
                              {"from": first, "to": last, "appointment_type_id": clinic.type_id}))
    assert body["timezone"] == TZ and body["total"] == len(body["slots"])
    return body["slots"]


def _nth_sunday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


def next_us_dst_sundays() -> tuple[date, date]:
    """The next New York spring-forward (2nd Sunday of March) and fall-back (1st Sunday of November)
    Sundays past the materialized horizon: 2027-03-14 and 2027-11-07 when these tests were written."""
    after = local_today(TZ) + timedelta(days=16)
    spring = next(d for d in (_nth_sunday(y, 3, 2) for y in range(after.year, after.year + 2)) if d > after)
    fall = next(d for d in (_nth_sunday(y, 11, 1) for y in range(after.year, after.year + 2)) if d > after)
    return spring, fall


def test_a_night_rule_loses_the_skipped_hour_at_spring_forward_and_repeats_one_at_fall_back(admin, clinic):
    weekly_rule(admin, clinic, [7], "00:00", "06:00")  # Sundays, 00:00-06:00 New York wall-clock time
    spring, fall = next_us_dst_sundays()
    one = timedelta(days=1)

    spring_slots = availability(admin, clinic, str(spring - one), str(spring + one))  # 02:00 -> 03:00
    assert [s["local_start"] for s in spring_slots] == [
        f"{spring}T00:00:00-05:00", f"{spring}T01:00:00-05:00",
        f"{spring}T03:00:00-04:00", f"{spring}T04:00:00-04:00", f"{spring}T05:00:00-04:00",
    ]
    assert [s["start"] for s in spring_slots] == [f"{spring}T{h:02d}:00:00Z" for h in (5, 6, 7, 8, 9)]

    fall_slots = availability(admin, clinic, str(fall - one), str(fall + one))  # 02:00 -> 01:00
    assert [s["local_start"] for s in fall_slots] == [
        f"{fall}T00:00:00-04:00", f"{fall}T01:00:00-04:00", f"{fall}T01:00:00-05:00",
        f"{fall}T02:00:00-05:00", f"{fall}T03:00:00-05:00", f"{fall}T04:00:00-05:00",
        f"{fall}T05:00:00-05:00",
    ]
    assert [s["start"] for s in fall_slots] == [f"{fall}T{h:02d}:00:00Z" for h in range(4, 11)]

    for slot in spring_slots + fall_slots:  # past the horizon: computed on demand, held by provider/type/start
        assert slot["id"] is None
        assert slot["provider_id"] == clinic.provider_id and slot["location_id"] == clinic.location_id
        assert slot["appointment_type_id"] == clinic.type_id and slot["capacity_left"] == 1
        assert parse(slot["end"]) - parse(slot["start"]) == timedelta(hours=1)


def test_a_weekly_rule_with_a_break_offers_hourly_slots_around_the_break(admin, clinic):
    day = next_weekday(TZ)
    rule = weekly_rule(admin, clinic, [day.isoweekday()], "08:00", "13:00", breaks=[("10:00", "11:00")])
    assert rule["breaks"] == [{"start_time": "10:00", "end_time": "11:00"}]
    slots = day_slots(admin, clinic, day)
    assert local_times(slots) == ["08:00", "09:00", "11:00", "12:00"]
    assert all(s["id"] for s in slots)  # materialized inside the horizon


@pytest.mark.parametrize("hours,breaks,field", [
    (("20:00", "21:00"), [("22:00", "23:00")], "breaks.0.start_time"),  # after the hours
    (("10:00", "11:00"), [("10:30", "10:15")], "breaks.0.start_time"),  # backwards
    (("09:00", "17:00"), [("12:00", "13:00"), ("08:00", "09:30")], "breaks.1.start_time"),  # starts before
    (("22:00", "06:00"), [("06:30", "07:00")], "breaks.0.start_time"),  # after hours that run past midnight
])
def test_a_break_outside_its_hours_is_422_and_writes_nothing(app, admin, clinic, hours, breaks, field):
    before = row_counts(app)
    answer = admin.post(f"{ADMIN}/availabilities", {
        "kind": "weekly", "provider_id": clinic.provider_id, "location_id": clinic.location_id,
        "days_of_week": [3], "start_time": hours[0], "end_time": hours[1],
        "breaks": [{"start_time": a, "end_time": b} for a, b in breaks]})
    assert_error(answer, 422, "VALIDATION_ERROR", field)
    assert row_counts(app) == before


def test_a_break_across_midnight_inside_night_hours_is_taken(admin, clinic):
    rule = weekly_rule(admin, clinic, [6], "22:00", "06:00", breaks=[("23:30", "00:30")])
    assert rule["breaks"] == [{"start_time": "23:30", "end_time": "00:30"}]


def test_an_exception_on_a_date_whose_end_is_its_start_is_422(app, admin, clinic, workday):
    before = row_counts(app)
    answer = admin.post(f"{ADMIN}/availabilities", {
        "kind": "exception", "provider_id": clinic.provider_id, "status": "blocked",
        "date": workday.day.isoformat(), "start_time": "09:00", "end_time": "09:00"})
    assert_error(answer, 422, "VALIDATION_ERROR", "end_time")
    assert row_counts(app) == before


def test_a_blocked_exception_then_a_booking_each_remove_exactly_their_own_slot(app, admin, clinic, workday):
    before = day_slots(admin, clinic, workday.day)
    assert local_times(before) == ["09:00", "10:00", "11:00"]
    ids = {s["local_start"][11:16]: s["id"] for s in before}
    assert all(ids.values()) and len(set(ids.values())) == 3

    blocked = admin.created(f"{ADMIN}/availabilities", {
        "kind": "exception", "provider_id": clinic.provider_id, "status": "blocked",
        "start_at": local_iso(workday.day, "10:00", TZ), "end_at": local_iso(workday.day, "11:00", TZ),
        "reason": "Staff meeting",
    })
    assert blocked["status"] == "blocked" and "reason" not in blocked  # the reason is staff-only
    after_block = day_slots(admin, clinic, workday.day)
    assert [(s["local_start"][11:16], s["id"]) for s in after_block] == [("09:00", ids["09:00"]),
                                                                           ("11:00", ids["11:00"])]

    add_confirmed_booking(app, admin, clinic, at(workday.day, "11:00", TZ))
    after_booking = day_slots(admin, clinic, workday.day)
    assert [(s["local_start"][11:16], s["id"]) for s in after_booking] == [("09:00", ids["09:00"])]


def test_approved_time_off_removes_its_slots_and_rejected_time_off_leaves_them(admin, clinic, workday):
    day = workday.day
    first = admin.created(f"{ADMIN}/time-off", {"provider_id": clinic.provider_id, "reason": "Dentist",
                                                "start_at": local_iso(day, "10:00", TZ),
                                                "end_at": local_iso(day, "11:00", TZ)})
    assert first["status"] == "pending" and first["decided_at"] is None
    assert local_times(day_slots(admin, clinic, day)) == ["09:00", "10:00", "11:00"]  # pending blocks nothing

    second = admin.created(f"{ADMIN}/time-off", {"provider_id": clinic.provider_id,
                                                 "start_at": local_iso(day, "11:00", TZ),
                                                 "end_at": local_iso(day, "12:00", TZ)})
    rejected = admin.ok(admin.post(f"{ADMIN}/time-off/{second['id']}/reject"))
    assert rejected["status"] == "rejected" and rejected["conflicting_booking_ids"] == []
    assert local_times(day_slots(admin, clinic, day)) == ["09:00", "10:00", "11:00"]

    approved = admin.ok(admin.post(f"{ADMIN}/time-off/{first['id']}/approve"))
    assert approved["status"] == "approved" and approved["decided_at"]
    assert approved["conflicting_booking_ids"] == []
    assert local_times(day_slots(admin, clinic, day)) == ["09:00", "11:00"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("approve", "approve"),  # approving twice
        ("approve", "reject"),  # rejecting what is already approved
        ("reject", "approve"),  # approving what is already rejected
    ],
)
def test_deciding_time_off_a_second_time_is_an_invalid_transition(admin, clinic, workday, first, second):
    item = admin.created(f"{ADMIN}/time-off", {"provider_id": clinic.provider_id,
                                               "start_at": local_iso(workday.day, "09:00", TZ),
                                               "end_at": local_iso(workday.day, "10:00", TZ)})
    admin.ok(admin.post(f"{ADMIN}/time-off/{item['id']}/{first}"))
    slots_before = day_slots(admin, clinic, workday.day)
    assert_error(admin.post(f"{ADMIN}/time-off/{item['id']}/{second}"), 409, "INVALID_TRANSITION")
    assert day_slots(admin, clinic, workday.day) == slots_before


def test_approving_time_off_over_a_booking_lists_the_conflicting_booking(app, admin, clinic, workday):
    booking_id = add_confirmed_booking(app, admin, clinic, at(workday.day, "10:00", TZ))
    item = admin.created(f"{ADMIN}/time-off", {"provider_id": clinic.provider_id,
                                               "start_at": local_iso(workday.day, "09:30", TZ),
                                               "end_at": local_iso(workday.day, "12:00", TZ)})
    approved = admin.ok(admin.post(f"{ADMIN}/time-off/{item['id']}/approve"))
    assert approved["status"] == "approved"
    assert approved["conflicting_booking_ids"] == [booking_id]
    assert local_times(day_slots(admin, clinic, workday.day)) == []  # 09:00 overlaps the time off now


def test_generating_slots_repairs_drift_and_a_second_run_changes_nothing(app, admin, clinic, workday):
    ids = [s["id"] for s in day_slots(admin, clinic, workday.day)]
    assert len(ids) == 3
    with app.app_context():  # drift: the slot rows vanish behind the engine's back
        with write_transaction():
            provider_id = uuid.UUID(clinic.provider_id)
            db.session.execute(delete(AvailabilitySlot).where(AvailabilitySlot.provider_id == provider_id))

    window = {"from": workday.day.isoformat(), "to": (workday.day + timedelta(days=6)).isoformat(),
              "provider_id": clinic.provider_id}
    first = admin.ok(admin.post(f"{ADMIN}/slots/generate", window))
    assert first["providers"] == 1
    assert first["changed_rows"] >= 3  # at least the three slots of the day (the rule repeats weekly)
    assert local_times(day_slots(admin, clinic, workday.day)) == ["09:00", "10:00", "11:00"]  # kept, not deleted

    second = admin.ok(admin.post(f"{ADMIN}/slots/generate", window))
    assert second == {"providers": 1, "changed_rows": 0}
    everyone = admin.ok(admin.post(f"{ADMIN}/slots/generate", {"from": window["from"], "to": window["to"]}))
    assert everyone == {"providers": 1, "changed_rows": 0}


def test_shortening_the_visit_to_thirty_minutes_regrids_the_slots(admin, clinic, workday):
    assert local_times(day_slots(admin, clinic, workday.day)) == ["09:00", "10:00", "11:00"]  # kept, not deleted
    changed = admin.ok(admin.patch(f"{ADMIN}/appointment-types/{clinic.type_id}", {"duration_minutes": 30}))
    assert changed["duration_minutes"] == 30
    assert changed["max_future_days"] == 730 and changed["provider_ids"] == [clinic.provider_id]  # untouched
    assert local_times(day_slots(admin, clinic, workday.day)) == ["09:00", "09:30", "10:00", "10:30", "11:00",
                                                                  "11:30"]


def test_patching_a_location_changes_only_the_given_fields_and_a_new_zone_moves_the_slots(admin, clinic, workday):
    location_url = f"{ADMIN}/locations/{clinic.location_id}"
    renamed = admin.ok(admin.patch(location_url, {"name": "Harbour Square", "address": "2 Harbour Sq"}))
    assert (renamed["name"], renamed["address"], renamed["timezone"]) == ("Harbour Square", "2 Harbour Sq", TZ)
    assert admin.ok(admin.get(location_url)) == renamed

    before = day_slots(admin, clinic, workday.day)
    moved = admin.ok(admin.patch(location_url, {"timezone": "America/Chicago"}))
    assert moved["timezone"] == "America/Chicago" and moved["name"] == "Harbour Square"
    after = day_slots(admin, clinic, workday.day)  # shown in the provider's zone, still New York
    assert local_times(after) == ["10:00", "11:00", "12:00"]
    assert [s["start"] for s in after] != [s["start"] for s in before]
    chicago = admin.all_slots({"appointment_type_id": clinic.type_id, "provider_id": clinic.provider_id,
                               "date": workday.day.isoformat(), "timezone": "America/Chicago"})
    assert local_times(chicago) == ["09:00", "10:00", "11:00"]


def test_patching_a_provider_renames_it_and_deactivating_it_withdraws_its_slots(admin, clinic, workday):
    url = f"{ADMIN}/providers/{clinic.provider_id}"
    renamed = admin.ok(admin.patch(url, {"name": "Dr. Ada Hart-Lee", "specialty": "Family medicine"}))
    assert (renamed["name"], renamed["specialty"]) == ("Dr. Ada Hart-Lee", "Family medicine")
    assert renamed["location_ids"] == [clinic.location_id] and renamed["is_active"] is True
    listed = admin.ok(admin.get("/api/v1/providers"))["providers"]
    assert [(p["id"], p["name"]) for p in listed] == [(clinic.provider_id, "Dr. Ada Hart-Lee")]
    assert len(day_slots(admin, clinic, workday.day)) == 3

    inactive = admin.ok(admin.patch(url, {"is_active": False}))
    assert inactive["is_active"] is False
    assert admin.ok(admin.get("/api/v1/providers"))["providers"] == []
    assert day_slots(admin, clinic, workday.day) == []
    staff_view = admin.ok(admin.get(f"{ADMIN}/providers"))["providers"]
    assert [p["is_active"] for p in staff_view] == [False]  # staff still see it, to re-activate


def test_taking_a_location_off_a_provider_withdraws_its_hours_there_until_it_comes_back(admin, clinic, workday):
    """Hours belong to a provider at a location: off the location, they offer nothing (the
    slot list, the provider's availability and the stored rows agree); back on it, they return."""
    url = f"{ADMIN}/providers/{clinic.provider_id}"
    other = admin.created(f"{ADMIN}/locations", {"name": "Pier Road", "timezone": TZ, "address": "9 Pier Rd"})
    assert len(day_slots(admin, clinic, workday.day)) == 3
    day = workday.day.isoformat()

    moved = admin.ok(admin.patch(url, {"location_ids": [other["id"]]}))
    assert moved["location_ids"] == [other["id"]]
    assert day_slots(admin, clinic, workday.day) == []
    assert availability(admin, clinic, day, day) == []

    back = admin.ok(admin.patch(url, {"location_ids": [clinic.location_id, other["id"]]}))
    assert sorted(back["location_ids"]) == sorted([clinic.location_id, other["id"]])
    assert local_times(day_slots(admin, clinic, workday.day)) == ["09:00", "10:00", "11:00"]  # kept, not deleted
