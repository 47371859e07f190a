"""Whole answers of the slot list and the finder's partial are kept (app/availability/read_cache.py)
and a repeat reads no SQL; every write that moves what they show makes the very next read answer
afresh: a booking, a setup change (the exposure switch, a clinician leaving the visit), a hold
running out. Exposure stays per viewer: two viewers do not share a sample."""
from __future__ import annotations

import contextlib
import re
import uuid
from datetime import timedelta

from sqlalchemy import event, select

from app.availability import read_cache
from app.booking.actors import Actor
from app.booking.hold import Contact, hold
from app.extensions import db
from app.models import AppointmentType, Booking, Organization, Provider, utcnow
from app.redis_client import get_redis
from tests.integration.api_helpers import next_monday

BERLIN = "Europe/Berlin"
ALL = {"X-Exposure-Variant": "all"}
PARTIAL = {"HX-Request": "true", "HX-Target": "results"}


@contextlib.contextmanager
def sql_statements(app):
    """Count the SQL statements the app runs inside the block."""
    seen = []
    with app.app_context():
        engine = db.engine

    def count(*_args):
        seen.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _ids(app):
    with app.app_context():
        weber = db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Anna Weber")).one()
        consult = db.session.scalars(select(AppointmentType).where(
            AppointmentType.name == "General consultation")).one()
        return weber.id, consult.id, weber.organization_id


def _setup_token(app):
    with app.app_context():
        return get_redis().get(read_cache.SETUP_KEY)


def _params(provider_id, type_id, day) -> dict:
    return {"appointment_type_id": str(type_id), "provider_id": str(provider_id), "date": day.isoformat()}


def _read(client, params, headers=ALL) -> dict:
    response = client.get("/api/v1/slots", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_a_repeat_read_runs_no_sql_and_a_booking_changes_the_next_answer(app, demo, client):
    provider_id, type_id, _ = _ids(app)
    params = _params(provider_id, type_id, next_monday(BERLIN) + timedelta(days=1))
    first = _read(client, params)
    assert first["slots"]
    with sql_statements(app) as statements:
        again = _read(client, params)
    assert again == first and not statements  # served whole from the cache
    taken = first["slots"][0]
    setup = _setup_token(app)
    booked = client.post("/api/v1/bookings", headers={"Idempotency-Key": uuid.uuid4().hex},
                         json={"slot_id": taken["id"], "name": "Ada Read", "email": "ada.read@example.com"})
    assert booked.status_code == 201, booked.get_data(as_text=True)
    assert _setup_token(app) == setup  # a booking moves its provider's answers only (by the slot versions)
    after = _read(client, params)
    assert taken["id"] not in {s["id"] for s in after["slots"]}  # the very next read shows the booking
    assert after["total"] == first["total"] - 1


def test_a_setup_change_is_seen_on_the_next_read(app, demo, client):
    provider_id, type_id, org_id = _ids(app)
    params = _params(provider_id, type_id, next_monday(BERLIN) + timedelta(days=1))
    sampled = _read(client, params, headers={})
    assert len(sampled["slots"]) < sampled["total"]  # a sample of 1-3
    with app.app_context():
        db.session.get(Organization, org_id).slot_exposure_enabled = False
        db.session.commit()
    everything = _read(client, params, headers={})
    assert len(everything["slots"]) == everything["total"] == sampled["total"]
    with app.app_context():  # Dr. Weber no longer offers the visit: nothing of hers is listed
        kind = db.session.get(AppointmentType, type_id)
        kind.providers = [p for p in kind.providers if p.id != provider_id]
        db.session.commit()
    assert _read(client, params)["slots"] == []


def test_each_viewer_keeps_an_own_sample(app, demo, client):
    provider_id, type_id, _ = _ids(app)
    day = next_monday(BERLIN) + timedelta(days=1)
    samples = {}
    for agent in ("agent-a", "agent-b", "agent-c", "agent-d", "agent-e", "agent-f"):
        picked = [s["id"] for s in _read(client, _params(provider_id, type_id, day),
                                         headers={"User-Agent": agent})["slots"]]
        assert picked == [s["id"] for s in _read(client, _params(provider_id, type_id, day),
                                                 headers={"User-Agent": agent})["slots"]]  # sticky
        samples[agent] = tuple(picked)
    assert len(set(samples.values())) > 1  # not one cached sample handed to everybody


def test_a_hold_that_runs_out_after_a_cached_read_frees_its_time(app, demo, client):
    provider_id, type_id, org_id = _ids(app)
    params = _params(provider_id, type_id, next_monday(BERLIN) + timedelta(days=2))
    first = _read(client, params)
    start = first["slots"][0]["start"]
    with app.app_context():
        # held so long ago (the organization's hold length) that it runs out in two seconds
        length = timedelta(minutes=db.session.get(Organization, org_id).hold_minutes)
        result = hold(Actor.guest(org_id), contact=Contact("Short Hold", "short@example.com"),
                      provider_id=provider_id, appointment_type_id=type_id, start=_parse(start),
                      now=utcnow() - length + timedelta(seconds=2))
        booking_id = result.booking.id
        expires = db.session.get(Booking, booking_id).hold_expires_at
    held = _read(client, params)
    if utcnow() < expires:
        assert start not in {s["start"] for s in held["slots"]}  # the hold hides the time
    deadline = utcnow() + timedelta(seconds=30)
    while start not in {s["start"] for s in _read(client, params)["slots"]}:  # no write bumps anything:
        assert utcnow() < deadline, "the time stayed hidden after the hold ran out"  # the clock must
    with app.app_context():
        assert db.session.get(Booking, booking_id).status == "expired"


def _parse(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _times(body: str) -> list[str]:
    return re.findall(r'data-start="([^"]+)"', body)


def test_the_finder_partial_is_kept_and_a_booking_changes_the_next_one(app, demo, client):
    provider_id, type_id, _ = _ids(app)
    day = next_monday(BERLIN) + timedelta(days=1)
    query = {**_params(provider_id, type_id, day), "all": "1", "tz": BERLIN}
    first = client.get("/book", query_string=query, headers=PARTIAL).get_data(as_text=True)
    assert _times(first)
    with sql_statements(app) as statements:
        again = client.get("/book", query_string=query, headers=PARTIAL).get_data(as_text=True)
    assert _times(again) == _times(first) and not statements
    tokens = re.findall(r'name="form_token" value="([^"]+)-1"', first + again)
    assert len(set(tokens)) == 2  # one-time form tokens are fresh on every answer, cached or not
    assert "\x00" not in again
    slots = _read(client, _params(provider_id, type_id, day))["slots"]
    taken = next(s for s in slots if s["start"].replace("Z", "+00:00") == _times(first)[0])
    booked = client.post("/api/v1/bookings", headers={"Idempotency-Key": uuid.uuid4().hex},
                         json={"slot_id": taken["id"], "name": "Bo Finder", "email": "bo.finder@example.com"})
    assert booked.status_code == 201, booked.get_data(as_text=True)
    after = client.get("/book", query_string=query, headers=PARTIAL).get_data(as_text=True)
    assert _times(after) == _times(first)[1:]
