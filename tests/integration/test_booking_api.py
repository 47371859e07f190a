"""The booking endpoints of docs/api.md over HTTP, against the demo clinic, on SQLite and
PostgreSQL: answers in the documented shape, errors in the one envelope with
their stable code, every refusal writing nothing (bookings, events and slots
compared before and after), idempotent retries, visibility per role and tenant,
and the admin list, patch and summary.

The API runs on the real clock, so every time used is 3–9 days ahead.
"""
from __future__ import annotations

import uuid
from datetime import timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Uuid, bindparam, func, select, text

from app.accounts import find_user_by_email
from app.database import write_transaction
from app.demo_seed import DOMAIN
from app.extensions import db
from app.models import AppointmentType, Booking, BookingEvent, User, utcnow
from tests.integration.api_helpers import (
    PASSWORD,
    Api,
    assert_error,
    cheap_hashing,
    make_organization,
    make_user,
    minted_token,
    parse,
    utc_z,
)
from tests.integration.booking_helpers import at, day_ahead, fresh, is_open, load_clinic, slot_row, snapshot
from tests.integration.account_helpers import outbox  # noqa: F401 - fixture
from tests.integration.helpers import csrf_token, seed_demo_clinic

V1, ADMIN = "/api/v1", "/api/admin/v1"
BOOKING_KEYS = {"id", "status", "provider_id", "appointment_type_id", "location_id", "room_id", "start", "end",
                "local_start", "local_end", "timezone", "hold_expires_at", "reschedule_count", "source",
                "patient_id", "cancelled_by", "created_at"}
ROLES = ("admin", "manager", "frontdesk", "weber", "chen", "fischer", "patient", "olivia")


@pytest.fixture
def demo(app, client, db_session, monkeypatch) -> SimpleNamespace:
    """The demo clinic, an API client per demo user (`demo.patient`, `demo.weber`, ...) and
    an anonymous one (`demo.guest`); `demo.day` is a Wednesday 3–9 days ahead."""
    seed_demo_clinic(app, monkeypatch)
    cheap_hashing(monkeypatch)
    with app.app_context():
        clinic = load_clinic()
    ns = SimpleNamespace(clinic=clinic, app=app, day=day_ahead(3), guest=Api(client),
                         weber_id=str(clinic.weber), fischer_id=str(clinic.fischer),
                         consult_id=str(clinic.consult), physio_id=str(clinic.physio))
    for role in ROLES:
        setattr(ns, role, Api(client, minted_token(app, f"{role}@{DOMAIN}")))
    return ns


def state(app) -> dict:
    with app.app_context():
        return snapshot()


def refused(app, response_of, status: int, code: str, field: str | None = None) -> dict:
    """The request (a thunk) is answered with this error envelope and writes nothing."""
    before = state(app)
    error = assert_error(response_of(), status, code, field)
    assert state(app) == before
    return error


def consult_body(demo, hhmm: str = "09:00", **extra) -> dict:
    return {"provider_id": demo.weber_id, "appointment_type_id": demo.consult_id,
            "start": at(demo.day, hhmm).isoformat(), **extra}


def physio_body(demo, hhmm: str = "14:15", **extra) -> dict:
    return {"provider_id": demo.fischer_id, "appointment_type_id": demo.physio_id,
            "start": at(demo.day, hhmm).isoformat(), **extra}


GUEST = {"name": "Gina Guest", "email": "gina@example.com"}


def held(api: Api, body: dict) -> dict:
    return api.created(f"{V1}/bookings", body)


def confirmed(demo, api: Api, hhmm: str = "09:00") -> dict:
    booking = held(api, consult_body(demo, hhmm))
    return api.ok(api.post(f"{V1}/bookings/{booking['id']}/confirm", {"hold_token": booking["hold_token"]}))


def pending(demo) -> dict:
    booking = held(demo.patient, physio_body(demo))
    answer = demo.patient.ok(demo.patient.post(f"{V1}/bookings/{booking['id']}/confirm", {}))
    assert answer["status"] == "pending"
    return answer


def with_key(api: Api, key: str | None) -> dict:
    headers = {"Authorization": f"Bearer {api.bearer}"} if api.bearer else {}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


# --- hold and confirm -----------------------------------------------------------------------------

def test_a_patient_holds_a_time_and_gets_the_booking_with_its_hold_token(demo):
    answer = held(demo.patient, consult_body(demo, "09:00", timezone="Europe/Berlin"))
    assert set(answer) == BOOKING_KEYS | {"hold_token"}
    start = at(demo.day, "09:00")
    assert answer["status"] == "held" and answer["source"] == "api"
    assert (answer["start"], answer["end"]) == (utc_z(start), utc_z(start + timedelta(minutes=30)))
    assert answer["local_start"] == start.astimezone(ZoneInfo("Europe/Berlin")).isoformat()
    assert answer["timezone"] == "Europe/Berlin" and answer["reschedule_count"] == 0
    assert parse(answer["hold_expires_at"]) - utcnow() <= timedelta(minutes=10)
    assert parse(answer["hold_expires_at"]) - utcnow() > timedelta(minutes=9)
    assert len(answer["hold_token"]) >= 32 and answer["patient_id"]
    seen = demo.patient.ok(demo.patient.get(f"{V1}/bookings/{answer['id']}"))
    assert set(seen) == BOOKING_KEYS  # the token is shown once, on the hold only
    with demo.app.app_context():
        assert not is_open(demo.clinic.weber, demo.clinic.consult, start)


def test_a_start_sent_with_a_local_offset_is_answered_in_utc_like_every_instant(demo):
    start = at(demo.day, "09:30")
    local = start.astimezone(ZoneInfo("Europe/Berlin"))
    assert not local.isoformat().endswith("+00:00")
    answer = held(demo.patient, {**consult_body(demo), "start": local.isoformat()})
    assert (answer["start"], answer["end"]) == (utc_z(start), utc_z(start + timedelta(minutes=30)))
    assert answer["local_start"] == local.isoformat()
    confirmed = demo.patient.ok(demo.patient.post(f"{V1}/bookings/{answer['id']}/confirm",
                                                  {"hold_token": answer["hold_token"]}))
    assert (confirmed["start"], confirmed["end"]) == (answer["start"], answer["end"])


def test_a_hold_by_slot_id_takes_that_slot(demo):
    with demo.app.app_context():
        slot = slot_row(demo.clinic.weber, demo.clinic.consult, at(demo.day, "10:00"))
        assert slot.status == "open"
        slot_id = str(slot.id)
    answer = held(demo.olivia, {"slot_id": slot_id})
    assert answer["start"] == utc_z(at(demo.day, "10:00")) and answer["provider_id"] == demo.weber_id


def test_a_hold_by_slot_id_may_repeat_the_slots_own_values_but_not_contradict_them(demo, app):
    with demo.app.app_context():
        slot = slot_row(demo.clinic.weber, demo.clinic.consult, at(demo.day, "10:00"))
        same = {"slot_id": str(slot.id), "provider_id": demo.weber_id, "appointment_type_id": demo.consult_id,
                "start": at(demo.day, "10:00").astimezone(ZoneInfo("Europe/Berlin")).isoformat(),
                "location_id": str(slot.location_id)}
    for name, other in (("provider_id", demo.fischer_id), ("appointment_type_id", demo.physio_id),
                        ("start", at(demo.day, "11:00").isoformat()), ("location_id", str(uuid.uuid4()))):
        refused(app, lambda: demo.olivia.post(f"{V1}/bookings", {**same, name: other}), 422, "VALIDATION_ERROR", name)
    answer = held(demo.olivia, same)  # the same values, written another way: taken
    assert answer["start"] == utc_z(at(demo.day, "10:00")) and answer["provider_id"] == demo.weber_id


# A slot row can outlive what it was computed from when setup changes bypass the ORM (bulk SQL,
# psql): the hold reads the slot with its provider, type and offer in one statement and must
# still refuse, as a lookup of each would.
STALE_SLOT_SETUP = {
    "inactive-provider": ("UPDATE providers SET is_active = false WHERE id = :provider", 404, "NOT_FOUND", None),
    "inactive-type": ("UPDATE appointment_types SET is_active = false WHERE id = :kind", 404, "NOT_FOUND", None),
    "not-offered": ("DELETE FROM appointment_type_providers WHERE provider_id = :provider AND appointment_type_id = :kind",
                    422, "VALIDATION_ERROR", "appointment_type_id"),
}


@pytest.mark.parametrize("case", [*STALE_SLOT_SETUP, "other-clinic"])
def test_a_hold_by_slot_id_refuses_another_clinics_slot_and_a_slot_its_setup_no_longer_offers(demo, app, case):
    with app.app_context():
        slot_id = str(slot_row(demo.clinic.weber, demo.clinic.consult, at(demo.day, "10:00")).id)
    if case == "other-clinic":
        outsider = Api(demo.guest.client, minted_token(app, make_user(app, make_organization(app, "Elsewhere"),
                                                                      "patient")))
        refused(app, lambda: outsider.post(f"{V1}/bookings", {"slot_id": slot_id}), 409, "SLOT_UNAVAILABLE")
        return
    statement, status, code, field = STALE_SLOT_SETUP[case]
    with app.app_context():
        ids = {name: value for name, value in (("provider", demo.clinic.weber), ("kind", demo.clinic.consult))
               if f":{name}" in statement}
        db.session.execute(text(statement).bindparams(*(bindparam(name, type_=Uuid) for name in ids)), ids)
        db.session.commit()
        assert slot_row(demo.clinic.weber, demo.clinic.consult, at(demo.day, "10:00")) is not None  # still there
    refused(app, lambda: demo.olivia.post(f"{V1}/bookings", {"slot_id": slot_id}), status, code, field)


def test_a_guest_holds_confirms_with_the_token_and_no_sign_in(demo):
    booking = held(demo.guest, consult_body(demo, "09:00", **GUEST))
    assert booking["patient_id"] is None and booking["status"] == "held"
    answer = demo.guest.ok(demo.guest.post(f"{V1}/bookings/{booking['id']}/confirm",
                                           {"hold_token": booking["hold_token"], "notes": "First visit"}))
    assert set(answer) == BOOKING_KEYS
    assert answer["status"] == "confirmed" and answer["hold_expires_at"] is None


def test_an_approval_type_is_pending_after_confirm(demo):
    assert pending(demo)["status"] == "pending"


def test_a_guest_cancels_a_hold_with_its_token(demo):
    booking = held(demo.guest, consult_body(demo, "09:00", name="Gina Guest", phone="+49 30 1234567"))
    refused(demo.app, lambda: demo.guest.post(f"{V1}/bookings/{booking['id']}/cancel", {"hold_token": "nope"}),
            404, "NOT_FOUND")
    answer = demo.guest.ok(demo.guest.post(f"{V1}/bookings/{booking['id']}/cancel",
                                           {"hold_token": booking["hold_token"], "reason": "Changed plans"}))
    assert answer["status"] == "cancelled" and answer["cancelled_by"] == "patient"
    with demo.app.app_context():
        assert is_open(demo.clinic.weber, demo.clinic.consult, at(demo.day, "09:00"))


# --- refusals of the hold -------------------------------------------------------------------------

HOLD_REFUSALS = [
    # no Idempotency-Key, an empty one, one of 256 characters
    pytest.param("patient", lambda d: consult_body(d), None, 400, "IDEMPOTENCY_KEY_REQUIRED", None, id="no-key"),
    pytest.param("patient", lambda d: consult_body(d), "", 400, "IDEMPOTENCY_KEY_REQUIRED", None, id="empty-key"),
    pytest.param("patient", lambda d: consult_body(d), "k" * 256, 400, "IDEMPOTENCY_KEY_REQUIRED", None,
                 id="key-256"),
    # neither slot_id nor provider + type + start
    pytest.param("patient", lambda d: {"provider_id": d.weber_id}, "k", 422, "VALIDATION_ERROR", "slot_id",
                 id="missing-target"),
    # a start without its offset is ambiguous
    pytest.param("patient", lambda d: consult_body(d, start=at(d.day, "09:00").replace(tzinfo=None).isoformat()),
                 "k", 422, "VALIDATION_ERROR", "start", id="naive-start"),
    # ids that are not UUIDs
    pytest.param("patient", lambda d: consult_body(d, provider_id="weber"), "k", 422, "VALIDATION_ERROR",
                 "provider_id", id="bad-uuid"),
    pytest.param("patient", lambda d: {"slot_id": "123"}, "k", 422, "VALIDATION_ERROR", "slot_id",
                 id="bad-slot-uuid"),
    # a JSON array is not an object
    pytest.param("patient", lambda d: [consult_body(d)], "k", 422, "VALIDATION_ERROR", "body", id="array-body"),
    # a guest must say who it is for, and how to reach them
    pytest.param("guest", lambda d: consult_body(d, email="x@example.com"), "k", 422, "VALIDATION_ERROR", "name",
                 id="guest-no-name"),
    pytest.param("guest", lambda d: consult_body(d, name="Gina"), "k", 422, "VALIDATION_ERROR", "email",
                 id="guest-no-contact"),
    # a provider that does not exist
    pytest.param("patient", lambda d: consult_body(d, provider_id=str(uuid.uuid4())), "k", 404, "NOT_FOUND", None,
                 id="unknown-provider"),
    # a slot id that is not offered
    pytest.param("patient", lambda d: {"slot_id": str(uuid.uuid4())}, "k", 409, "SLOT_UNAVAILABLE", None,
                 id="unknown-slot"),
    # between two grid points, and in the lunch break
    pytest.param("patient", lambda d: consult_body(d, "09:10"), "k", 409, "SLOT_UNAVAILABLE", None, id="off-grid"),
    pytest.param("patient", lambda d: consult_body(d, "12:00"), "k", 409, "SLOT_UNAVAILABLE", None, id="lunch"),
    # more than 60 days ahead
    pytest.param("patient", lambda d: consult_body(d, start=at(d.day + timedelta(days=63), "09:00").isoformat()),
                 "k", 409, "POLICY_VIOLATION", None, id="too-far"),
    # a time in the past
    pytest.param("patient", lambda d: consult_body(d, start=at(d.day - timedelta(days=14), "09:00").isoformat()),
                 "k", 409, "POLICY_VIOLATION", None, id="past"),
    # a bearer token that is not one
    pytest.param("bad-token", lambda d: consult_body(d), "k", 401, "UNAUTHENTICATED", None, id="bad-token"),
]


@pytest.mark.parametrize(("who", "make_body", "key", "status", "code", "field"), HOLD_REFUSALS)
def test_a_refused_hold_answers_the_error_envelope_and_writes_nothing(demo, who, make_body, key, status, code, field):
    api = Api(demo.guest.client, "garbage") if who == "bad-token" else getattr(demo, who)
    refused(demo.app, lambda: api.client.post(f"{V1}/bookings", json=make_body(demo), headers=with_key(api, key)),
            status, code, field)


def test_a_key_of_255_characters_is_accepted(demo):
    response = demo.patient.client.post(f"{V1}/bookings", json=consult_body(demo),
                                        headers=with_key(demo.patient, "k" * 255))
    assert response.status_code == 201


def test_a_taken_time_is_409_slot_full_and_writes_nothing(demo):
    held(demo.patient, consult_body(demo, "09:00"))
    error = refused(demo.app, lambda: demo.olivia.post(f"{V1}/bookings", consult_body(demo, "09:00")),
                    409, "SLOT_FULL")
    assert "another" in error["message"]


def test_a_body_over_the_size_limit_is_413(demo):
    body = '{"notes": "' + "x" * int(1.1 * 1024 * 1024) + '"}'
    refused(demo.app, lambda: demo.patient.client.post(
        f"{V1}/bookings", data=body, content_type="application/json", headers=with_key(demo.patient, "big")),
        413, "PAYLOAD_TOO_LARGE")


def test_a_chunked_body_over_the_size_limit_is_413_too(demo):
    """Without a Content-Length (Transfer-Encoding: chunked) the server reads up to the limit."""
    import io

    body = ('{"notes": "' + "x" * int(1.1 * 1024 * 1024) + '"}').encode()
    refused(demo.app, lambda: demo.patient.client.post(
        f"{V1}/bookings", input_stream=io.BytesIO(body), content_type="application/json",
        headers={**with_key(demo.patient, "big-chunked"), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True}), 413, "PAYLOAD_TOO_LARGE")


# --- confirm, cancel, accept, decline, reschedule: refusals -----------------------------------------

def test_confirm_without_the_right_token_key_or_body_is_refused_and_writes_nothing(demo, app):
    booking = held(demo.guest, consult_body(demo, "09:00", **GUEST))
    url = f"{V1}/bookings/{booking['id']}/confirm"
    token = {"hold_token": booking["hold_token"]}
    refused(app, lambda: demo.guest.client.post(url, json=token), 400, "IDEMPOTENCY_KEY_REQUIRED")
    refused(app, lambda: demo.guest.post(url, {"hold_token": "wrong"}), 404, "NOT_FOUND")  # guests: no leak
    refused(app, lambda: demo.frontdesk.post(url, {"hold_token": "wrong"}), 403, "FORBIDDEN")
    refused(app, lambda: demo.frontdesk.post(url, {}), 403, "FORBIDDEN")
    refused(app, lambda: demo.olivia.post(url, {}), 404, "NOT_FOUND")
    refused(app, lambda: demo.guest.post(url, {"hold_token": 5}), 422, "VALIDATION_ERROR", "hold_token")
    refused(app, lambda: demo.guest.post(f"{V1}/bookings/{uuid.uuid4()}/confirm", token), 404, "NOT_FOUND")
    demo.guest.ok(demo.guest.post(url, token))
    refused(app, lambda: demo.guest.post(url, token), 409, "INVALID_TRANSITION")


def test_a_patient_cannot_cancel_inside_the_notice_but_staff_can(demo, app):
    booking = confirmed(demo, demo.patient)
    with app.app_context(), write_transaction():  # ten days' notice: this visit is inside it
        db.session.get(AppointmentType, demo.clinic.consult).cancel_notice_minutes = 10 * 24 * 60
    url = f"{V1}/bookings/{booking['id']}/cancel"
    error = refused(app, lambda: demo.patient.post(url, {"reason": "ill"}), 409, "POLICY_VIOLATION")
    assert "10 days" in error["message"]
    refused(app, lambda: demo.olivia.post(url, {}), 404, "NOT_FOUND")
    refused(app, lambda: demo.patient.client.post(url, json={}, headers=with_key(demo.patient, None)),
            400, "IDEMPOTENCY_KEY_REQUIRED")
    answer = demo.frontdesk.ok(demo.frontdesk.post(url, {"reason": "Clinic closed"}))
    assert answer["status"] == "cancelled" and answer["cancelled_by"] == "staff"
    refused(app, lambda: demo.frontdesk.post(url, {}), 409, "INVALID_TRANSITION")


def test_a_patient_cancels_outside_the_notice_and_frees_the_time(demo, app):
    booking = confirmed(demo, demo.patient)
    answer = demo.patient.ok(demo.patient.post(f"{V1}/bookings/{booking['id']}/cancel", {}))
    assert answer["status"] == "cancelled" and answer["cancelled_by"] == "patient"
    with app.app_context():
        assert is_open(demo.clinic.weber, demo.clinic.consult, at(demo.day, "09:00"))


@pytest.mark.parametrize("who", ["fischer", "frontdesk", "manager"])
def test_the_clinic_accepts_a_request(demo, who):
    booking = pending(demo)
    api = getattr(demo, who)
    answer = api.ok(api.post(f"{V1}/bookings/{booking['id']}/accept", {}))
    assert set(answer) == BOOKING_KEYS and answer["status"] == "confirmed"


def test_declining_a_request_frees_its_time(demo, app):
    booking = pending(demo)
    answer = demo.frontdesk.ok(demo.frontdesk.post(f"{V1}/bookings/{booking['id']}/decline", {"reason": "Full"}))
    assert answer["status"] == "declined"
    with app.app_context():
        assert is_open(demo.clinic.fischer, demo.clinic.physio, at(demo.day, "14:15"))


@pytest.mark.parametrize("action", ["accept", "decline"])
def test_accept_and_decline_are_refused_to_anyone_but_the_clinic_and_write_nothing(demo, app, action):
    booking = pending(demo)
    url = f"{V1}/bookings/{booking['id']}/{action}"
    refused(app, lambda: demo.guest.post(url, {}), 401, "UNAUTHENTICATED")
    refused(app, lambda: demo.patient.post(url, {}), 403, "FORBIDDEN")
    refused(app, lambda: demo.weber.post(url, {}), 404, "NOT_FOUND")  # another provider's request
    refused(app, lambda: demo.fischer.client.post(url, json={}, headers=with_key(demo.fischer, None)),
            400, "IDEMPOTENCY_KEY_REQUIRED")
    refused(app, lambda: demo.fischer.post(url, {"reason": "x" * 501}), 422, "VALIDATION_ERROR", "reason")
    demo.fischer.ok(demo.fischer.post(url, {}))
    refused(app, lambda: demo.fischer.post(url, {}), 409, "INVALID_TRANSITION")


def test_a_patient_reschedules_atomically(demo, app):
    booking = confirmed(demo, demo.patient)
    new = at(demo.day, "11:00")
    answer = demo.patient.ok(demo.patient.post(f"{V1}/bookings/{booking['id']}/reschedule",
                                               {"start": new.isoformat()}))
    assert answer["start"] == utc_z(new) and answer["reschedule_count"] == 1 and answer["status"] == "confirmed"
    with app.app_context():
        assert is_open(demo.clinic.weber, demo.clinic.consult, at(demo.day, "09:00"))
        assert not is_open(demo.clinic.weber, demo.clinic.consult, new)


def test_a_move_to_where_the_visit_already_is_changes_nothing_and_uses_up_no_reschedule(demo, app):
    booking = confirmed(demo, demo.patient)
    url = f"{V1}/bookings/{booking['id']}/reschedule"
    local = at(demo.day, "09:00").astimezone(ZoneInfo("Europe/Berlin")).isoformat()
    before = state(app)
    for start in (booking["start"], local):  # the same instant, written two ways
        answer = demo.patient.ok(demo.patient.post(url, {"start": start}))
        assert answer["start"] == booking["start"] and answer["reschedule_count"] == 0
    assert state(app) == before  # no event, no count, no message


def test_a_refused_reschedule_writes_nothing_and_the_booking_stays_put(demo, app):
    booking = confirmed(demo, demo.patient)
    confirmed(demo, demo.olivia, "11:00")
    url = f"{V1}/bookings/{booking['id']}/reschedule"
    start = at(demo.day, "10:00").isoformat()
    refused(app, lambda: demo.guest.post(url, {"start": start}), 401, "UNAUTHENTICATED")
    refused(app, lambda: demo.patient.client.post(url, json={"start": start}, headers=with_key(demo.patient, None)),
            400, "IDEMPOTENCY_KEY_REQUIRED")
    refused(app, lambda: demo.patient.post(url, {}), 422, "VALIDATION_ERROR", "slot_id")
    refused(app, lambda: demo.patient.post(url, {"start": start, "slot_id": str(uuid.uuid4())}),
            422, "VALIDATION_ERROR", "slot_id")
    refused(app, lambda: demo.patient.post(url, {"start": start[:19]}), 422, "VALIDATION_ERROR", "start")
    refused(app, lambda: demo.olivia.post(url, {"start": start}), 404, "NOT_FOUND")
    refused(app, lambda: demo.patient.post(url, {"start": at(demo.day, "11:00").isoformat()}), 409, "SLOT_FULL")
    refused(app, lambda: demo.patient.post(url, {"start": at(demo.day, "10:10").isoformat()}),
            409, "SLOT_UNAVAILABLE")
    with demo.app.app_context():
        assert fresh(uuid.UUID(booking["id"])).start_at == at(demo.day, "09:00")


# --- idempotency ----------------------------------------------------------------------------------

def _post(api: Api, path: str, body, key: str):
    return api.client.post(path, json=body, headers=with_key(api, key))


def test_a_retry_with_the_same_key_replays_the_answer_and_books_once(demo, app):
    body = consult_body(demo, "09:00")
    first = _post(demo.patient, f"{V1}/bookings", body, "same-key")
    after_first = state(app)
    again = _post(demo.patient, f"{V1}/bookings", body, "same-key")
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert state(app) == after_first
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Booking).where(
            Booking.start_at == at(demo.day, "09:00"))) == 1
    other = _post(demo.patient, f"{V1}/bookings", consult_body(demo, "10:00"), "same-key")
    assert_error(other, 409, "IDEMPOTENCY_KEY_REUSED")
    assert state(app) == after_first


def test_a_key_whose_record_expired_runs_the_new_request(demo, app):
    from sqlalchemy import update

    from app.models import IdempotencyRecord

    assert _post(demo.patient, f"{V1}/bookings", consult_body(demo, "09:00"), "old-key").status_code == 201
    with app.app_context(), write_transaction():  # a day later: the first answer is forgotten
        db.session.execute(update(IdempotencyRecord).where(IdempotencyRecord.key == "old-key")
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    again = _post(demo.patient, f"{V1}/bookings", consult_body(demo, "10:00"), "old-key")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord).where(
            IdempotencyRecord.key == "old-key")) == 1


def test_an_error_answer_is_replayed_too(demo, app):
    mine = held(demo.patient, consult_body(demo, "09:00"))
    body = consult_body(demo, "09:00")
    assert_error(_post(demo.olivia, f"{V1}/bookings", body, "olivia-1"), 409, "SLOT_FULL")
    demo.patient.ok(demo.patient.post(f"{V1}/bookings/{mine['id']}/cancel", {}))  # the time is free again
    replay = refused(app, lambda: _post(demo.olivia, f"{V1}/bookings", body, "olivia-1"), 409, "SLOT_FULL")
    assert replay["message"]  # the first answer, not a new booking
    assert _post(demo.olivia, f"{V1}/bookings", body, "olivia-1").headers["Idempotent-Replayed"] == "true"
    assert _post(demo.olivia, f"{V1}/bookings", body, "olivia-2").status_code == 201  # a new key is a new try


def test_keys_belong_to_their_caller(demo, app):
    body = consult_body(demo, "09:00")
    assert _post(demo.patient, f"{V1}/bookings", body, "shared").status_code == 201
    # not a replay of the patient's answer (which carries her hold token): Olivia's own try
    response = _post(demo.olivia, f"{V1}/bookings", body, "shared")
    assert_error(response, 409, "SLOT_FULL")
    assert "Idempotent-Replayed" not in response.headers


# --- reading bookings -----------------------------------------------------------------------------

def test_bookings_me_lists_only_the_callers_own(demo, app):
    mine = held(demo.patient, consult_body(demo, "09:00"))["id"]
    hers = held(demo.olivia, consult_body(demo, "10:00"))["id"]
    with app.app_context():
        own = {str(i) for i in db.session.scalars(select(Booking.id).where(
            Booking.patient_id == demo.clinic.actor("patient").user_id))}
    listed = demo.patient.ok(demo.patient.get(f"{V1}/bookings/me"))["bookings"]
    assert {b["id"] for b in listed} == own and mine in own and hers not in own
    assert all(set(b) == BOOKING_KEYS for b in listed)
    assert hers in {b["id"] for b in demo.olivia.ok(demo.olivia.get(f"{V1}/bookings/me"))["bookings"]}
    assert demo.frontdesk.ok(demo.frontdesk.get(f"{V1}/bookings/me"))["bookings"] == []
    assert_error(demo.guest.get(f"{V1}/bookings/me"), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(("who", "sees"), [
    ("patient", True),  # their own
    ("olivia", False),  # another patient's
    ("weber", True),  # the booking's provider
    ("chen", False),  # another provider
    ("fischer", False),
    ("frontdesk", True),  # the clinic sees the whole organization
    ("manager", True),
    ("admin", True),
])
def test_one_booking_is_visible_per_role(demo, who, sees):
    booking = held(demo.patient, consult_body(demo, "09:00"))
    api = getattr(demo, who)
    response = api.get(f"{V1}/bookings/{booking['id']}")
    if sees:
        assert api.ok(response)["id"] == booking["id"]
    else:
        assert_error(response, 404, "NOT_FOUND")


def test_unknown_and_anonymous_reads_of_one_booking(demo):
    booking = held(demo.patient, consult_body(demo, "09:00"))
    assert_error(demo.guest.get(f"{V1}/bookings/{booking['id']}"), 401, "UNAUTHENTICATED")
    assert_error(demo.patient.get(f"{V1}/bookings/{uuid.uuid4()}"), 404, "NOT_FOUND")


def test_another_patient_holding_a_patients_hold_token_still_gets_404(demo, app):
    booking = held(demo.patient, consult_body(demo, "09:00"))
    url = f"{V1}/bookings/{booking['id']}"
    token = {"hold_token": booking["hold_token"]}
    assert_error(demo.olivia.get(url), 404, "NOT_FOUND")
    refused(app, lambda: demo.olivia.post(f"{url}/confirm", {**token, "notes": "Olivia was here"}), 404, "NOT_FOUND")
    refused(app, lambda: demo.olivia.post(f"{url}/cancel", token), 404, "NOT_FOUND")
    # the owner, and an anonymous client with the token (the hold's own browser, signed out), still may
    assert demo.guest.ok(demo.guest.post(f"{url}/confirm", token))["status"] == "confirmed"


def test_another_organization_cannot_see_or_touch_a_booking(demo, app):
    booking = held(demo.patient, consult_body(demo, "09:00"))
    other = make_organization(app, "Elsewhere Clinic")
    for role in ("admin", "frontdesk", "patient"):
        api = Api(demo.guest.client, minted_token(app, make_user(app, other, role)))
        assert_error(api.get(f"{V1}/bookings/{booking['id']}"), 404, "NOT_FOUND")
        refused(app, lambda: api.post(f"{V1}/bookings/{booking['id']}/cancel", {}), 404, "NOT_FOUND")
        if role != "patient":
            refused(app, lambda: api.patch(f"{ADMIN}/bookings/{booking['id']}", {"action": "cancel"}),
                    404, "NOT_FOUND")
            assert booking["id"] not in {b["id"] for b in api.ok(api.get(f"{ADMIN}/bookings"))["bookings"]}


# --- sign-up --------------------------------------------------------------------------------------

def test_register_answers_202_and_the_emailed_link_lets_the_patient_sign_in(demo, app, outbox):
    # PASSWORD: this module's users share one cheap hash (api_helpers.cheap_hashing)
    body = {"email": "new.patient@example.com", "password": PASSWORD, "name": "Nora New", "timezone": "Europe/Berlin"}
    response = demo.guest.post(f"{V1}/auth/register", body)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "check_email"
    signing_in = {"email": body["email"], "password": body["password"]}
    wrong = demo.guest.client.post(f"{V1}/auth/token", json={**signing_in, "password": PASSWORD + "x"})
    assert wrong.status_code == 401 and "not correct" in wrong.get_json()["error"]["message"]
    assert len(outbox.deliver()) == 1  # the sign-up's link; a wrong password sends nothing
    early = demo.guest.client.post(f"{V1}/auth/token", json=signing_in)  # right password, not yet confirmed
    assert early.status_code == 401 and "Confirm your email address first" in early.get_json()["error"]["message"]
    [mail] = outbox.deliver()  # the link again
    path = outbox.path(mail)
    page = demo.guest.client
    page.post(path, data={"csrf_token": csrf_token(page, path)})
    token = demo.guest.client.post(f"{V1}/auth/token", json=signing_in)
    assert token.status_code == 200
    nora = Api(demo.guest.client, token.get_json()["access_token"])
    assert nora.ok(nora.get(f"{V1}/bookings/me")) == {"bookings": []}
    booking = held(nora, consult_body(demo, "09:00"))
    with app.app_context():
        assert booking["patient_id"] == str(find_user_by_email(body["email"]).id)
    again = demo.guest.post(f"{V1}/auth/register", body)  # the same address again: the same answer
    assert (again.status_code, again.get_json()) == (response.status_code, response.get_json())


@pytest.mark.parametrize(("body", "key", "status", "code", "field"), [
    # too short a password
    ({"email": "a@example.com", "password": "short", "name": "A"}, "k", 422, "VALIDATION_ERROR", "password"),
    # no name
    ({"email": "a@example.com", "password": "a-long-enough-password"}, "k", 422, "VALIDATION_ERROR", "name"),
    # an email that already has an account: 202 like any other (no enumeration), and no new user
    ({"email": f"patient@{DOMAIN}", "password": "a-long-enough-password", "name": "P"}, "k", 202, None, None),
    # no Idempotency-Key
    ({"email": "a@example.com", "password": "a-long-enough-password", "name": "A"}, None, 400,
     "IDEMPOTENCY_KEY_REQUIRED", None),
])
def test_a_refused_sign_up_creates_no_user(demo, app, body, key, status, code, field):
    with app.app_context():
        users = db.session.scalar(select(func.count()).select_from(User))
    answer = demo.guest.client.post(f"{V1}/auth/register", json=body, headers=with_key(demo.guest, key))
    if code is None:
        assert answer.status_code == status, answer.get_json()
    else:
        assert_error(answer, status, code, field)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == users


# --- admin ----------------------------------------------------------------------------------------

def test_admin_bookings_filters_and_pages(demo, app):
    held(demo.patient, consult_body(demo, "09:00"))
    confirmed(demo, demo.olivia, "10:00")
    pending(demo)
    with app.app_context():
        everything = {str(b.id): b for b in db.session.scalars(select(Booking))}
    listed = demo.frontdesk.ok(demo.frontdesk.get(f"{ADMIN}/bookings", {"per_page": 200}))
    assert listed["total"] == len(everything) == len(listed["bookings"])

    def ids(params):
        answer = demo.manager.ok(demo.manager.get(f"{ADMIN}/bookings", {"per_page": 200, **params}))
        assert answer["total"] == len(answer["bookings"])
        return {b["id"] for b in answer["bookings"]}

    assert ids({"status": "held"}) == {i for i, b in everything.items() if b.status == "held"}
    assert ids({"status": "confirmed", "provider_id": demo.weber_id}) == {
        i for i, b in everything.items() if b.status == "confirmed" and str(b.provider_id) == demo.weber_id}
    day = demo.day.isoformat()
    assert ids({"from": day, "to": day}) == {
        i for i, b in everything.items() if b.start_at.date() == demo.day}
    pages = [demo.admin.ok(demo.admin.get(f"{ADMIN}/bookings", {"page": n, "per_page": 5})) for n in (1, 2, 3, 4)]
    assert all(p["total"] == len(everything) and p["per_page"] == 5 for p in pages)
    paged = [b["id"] for p in pages for b in p["bookings"]]
    assert len(paged) == len(set(paged)) == len(everything)
    starts = [b["start"] for p in pages for b in p["bookings"]]
    assert starts == sorted(starts, key=parse)
    assert_error(demo.admin.get(f"{ADMIN}/bookings", {"status": "lost"}), 422, "VALIDATION_ERROR", "status")
    assert_error(demo.admin.get(f"{ADMIN}/bookings", {"per_page": 0}), 422, "VALIDATION_ERROR", "per_page")
    assert_error(demo.admin.get(f"{ADMIN}/bookings", {"provider_id": "x"}), 422, "VALIDATION_ERROR", "provider_id")
    assert_error(demo.patient.get(f"{ADMIN}/bookings"), 403, "FORBIDDEN")
    assert_error(demo.weber.get(f"{ADMIN}/bookings"), 403, "FORBIDDEN")
    assert_error(demo.guest.get(f"{ADMIN}/bookings"), 401, "UNAUTHENTICATED")


def _past_confirmed(demo, app, hours_ago: int) -> str:
    """A confirmed consultation that started `hours_ago` hours ago (written directly: the
    API cannot book the past)."""
    start = utcnow().replace(microsecond=0) - timedelta(hours=hours_ago)
    with app.app_context(), write_transaction():
        booking = Booking(organization_id=demo.clinic.organization_id, guest_name="Past Visit",
                          provider_id=demo.clinic.weber, appointment_type_id=demo.clinic.consult,
                          location_id=demo.clinic.berlin_id, start_at=start, end_at=start + timedelta(minutes=30),
                          block_start_at=start, block_end_at=start + timedelta(minutes=35), status="confirmed",
                          seat=0, source="staff")
        db.session.add(booking)
        db.session.flush()
        db.session.add(BookingEvent(organization_id=booking.organization_id, booking_id=booking.id,
                                    actor_role="system", action="seeded", to_status="confirmed"))
        return str(booking.id)


@pytest.mark.parametrize(("action", "to"), [("complete", "completed"), ("no_show", "no_show")])
def test_admin_patch_marks_a_started_visit(demo, app, action, to):
    past = _past_confirmed(demo, app, hours_ago=3)
    answer = demo.frontdesk.ok(demo.frontdesk.patch(f"{ADMIN}/bookings/{past}", {"action": action}))
    assert answer["status"] == to and set(answer) == BOOKING_KEYS
    future = confirmed(demo, demo.patient)
    refused(app, lambda: demo.frontdesk.patch(f"{ADMIN}/bookings/{future['id']}", {"action": action}),
            409, "POLICY_VIOLATION")
    refused(app, lambda: demo.frontdesk.patch(f"{ADMIN}/bookings/{past}", {"action": action}),
            409, "INVALID_TRANSITION")


def test_admin_patch_cancels_and_reschedules(demo, app):
    booking = confirmed(demo, demo.patient)
    url = f"{ADMIN}/bookings/{booking['id']}"
    new = at(demo.day, "14:00")
    moved = demo.manager.ok(demo.manager.patch(url, {"action": "reschedule", "start": new.isoformat()}))
    assert moved["start"] == utc_z(new) and moved["reschedule_count"] == 1
    cancelled = demo.admin.ok(demo.admin.patch(url, {"action": "cancel", "reason": "Closed"}))
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_by"] == "staff"
    with app.app_context():
        assert is_open(demo.clinic.weber, demo.clinic.consult, new)


def test_a_refused_admin_patch_writes_nothing(demo, app):
    booking = confirmed(demo, demo.patient)
    url = f"{ADMIN}/bookings/{booking['id']}"
    refused(app, lambda: demo.admin.patch(url, {"action": "explode"}), 422, "VALIDATION_ERROR", "action")
    refused(app, lambda: demo.admin.patch(url, {}), 422, "VALIDATION_ERROR", "action")
    refused(app, lambda: demo.admin.patch(url, {"action": "reschedule"}), 422, "VALIDATION_ERROR", "slot_id")
    refused(app, lambda: demo.admin.patch(url, {"action": "reschedule", "start": "2027-01-01T09:00:00"}),
            422, "VALIDATION_ERROR", "start")
    refused(app, lambda: demo.admin.client.patch(url, json={"action": "cancel"},
                                                  headers=with_key(demo.admin, None)), 400, "IDEMPOTENCY_KEY_REQUIRED")
    refused(app, lambda: demo.patient.patch(url, {"action": "cancel"}), 403, "FORBIDDEN")
    refused(app, lambda: demo.guest.patch(url, {"action": "cancel"}), 401, "UNAUTHENTICATED")
    refused(app, lambda: demo.admin.patch(f"{ADMIN}/bookings/{uuid.uuid4()}", {"action": "cancel"}),
            404, "NOT_FOUND")


def test_analytics_summary_counts_by_status_and_conversion(demo, app):
    booking = held(demo.guest, consult_body(demo, "09:00", **GUEST))
    demo.guest.ok(demo.guest.post(f"{V1}/bookings/{booking['id']}/confirm", {"hold_token": booking["hold_token"]}))
    held(demo.patient, consult_body(demo, "11:00"))
    summary = demo.manager.ok(demo.manager.get(f"{ADMIN}/analytics/summary"))
    with app.app_context():  # every booking lies well inside the default window of ±30 days
        rows = db.session.execute(select(Booking.status, func.count()).group_by(Booking.status)).all()
    assert summary["by_status"] == dict(rows)
    assert summary["conversion"] == {"holds": 2, "confirmed": 1, "rate": 0.5}
    assert set(summary) >= {"by_status", "by_provider", "by_day", "conversion", "no_show_rate", "utilization",
                            "providers", "days"}
    assert demo.frontdesk.get(f"{ADMIN}/analytics/summary").status_code == 200  # a read of the admin API
    assert demo.admin.get(f"{ADMIN}/analytics/summary").status_code == 200
    assert_error(demo.weber.get(f"{ADMIN}/analytics/summary"), 403, "FORBIDDEN")
    # one end given: the range runs 60 days from it (or up to it)
    assert demo.manager.ok(demo.manager.get(f"{ADMIN}/analytics/summary?from=2027-01-01"))["to"] == "2027-03-02"
    assert demo.manager.ok(demo.manager.get(f"{ADMIN}/analytics/summary?to=2027-03-02"))["from"] == "2027-01-01"


def test_analytics_summary_gives_utilization_by_provider_and_day_and_narrows_to_one(demo, app):
    booking = held(demo.guest, consult_body(demo, "09:00", **GUEST))
    demo.guest.ok(demo.guest.post(f"{V1}/bookings/{booking['id']}/confirm", {"hold_token": booking["hold_token"]}))
    day = demo.day.isoformat()
    url = f"{ADMIN}/analytics/summary?from={day}&to={day}&provider_id={demo.weber_id}"
    summary = demo.manager.ok(demo.manager.get(url))
    with app.app_context():
        visits = db.session.execute(select(Booking.start_at, Booking.end_at).where(
            Booking.provider_id == uuid.UUID(demo.weber_id),
            Booking.status.in_(("pending", "confirmed", "completed", "no_show")),
            Booking.start_at >= at(demo.day, "00:00"), Booking.start_at < at(demo.day + timedelta(days=1), "00:00"),
        )).all()
    booked = sum(int((b - a).total_seconds() // 60) for a, b in visits)
    assert booked >= 30 and summary["booked_minutes"] == booked
    assert summary["open_minutes"] > booked and summary["utilization"] == round(booked / summary["open_minutes"], 4)
    [provider] = summary["providers"]
    [only_day] = summary["days"]
    assert provider["provider_id"] == demo.weber_id and only_day["date"] == day
    for group in (provider, only_day):
        assert (group["booked_minutes"], group["open_minutes"], group["utilization"]) == (
            summary["booked_minutes"], summary["open_minutes"], summary["utilization"])
    assert summary["conversion"] == {"holds": 1, "confirmed": 1, "rate": 1.0} or summary["conversion"]["holds"] == 0
    # a location the provider does not work at that day: nothing open, nothing booked, no rate
    other = demo.manager.created(f"{ADMIN}/locations", {"name": "Annex", "timezone": "Europe/Berlin"})
    empty = demo.manager.ok(demo.manager.get(f"{url}&location_id={other['id']}"))
    assert (empty["booked_minutes"], empty["open_minutes"], empty["utilization"]) == (0, 0, None)
    # the whole clinic has more open time than one provider
    clinic = demo.manager.ok(demo.manager.get(f"{ADMIN}/analytics/summary?from={day}&to={day}"))
    assert clinic["open_minutes"] > summary["open_minutes"] and len(clinic["providers"]) > 1


@pytest.mark.parametrize("query,status,field", [
    ("from=2027-02-10&to=2027-02-01", 422, "to"),  # the range ends before it starts
    ("from=2027-01-01&to=2028-06-01", 422, "to"),  # more than a year
    ("from=1900-01-01", 422, "from"),  # out of range, named as the parameter is
    (f"provider_id={uuid.UUID(int=1)}", 404, None),
    (f"location_id={uuid.UUID(int=1)}", 404, None),
    ("provider_id=weber", 422, "provider_id"),
])
def test_a_bad_analytics_query_is_refused_with_its_parameter_named(demo, query, status, field):
    assert_error(demo.manager.get(f"{ADMIN}/analytics/summary?{query}"), status,
                 "VALIDATION_ERROR" if status == 422 else "NOT_FOUND", field)
