"""Invariant 6: a booking change is recorded with its event in one transaction; with
Redis down the booking still succeeds and the relay publishes the event later.
And /metrics exposes the numbers docs/architecture.md names."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import redis
from sqlalchemy import select

from app import create_app
from app.booking.actors import Actor
from app.booking.hold import Contact, hold
from app.events import sent_mark, publish_pending
from app.extensions import db
from app.models import AppointmentType, BookingEvent, Provider, utcnow
from tests.conftest import _config


def _weber_consult():
    provider = db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Anna Weber")).one()
    kind = db.session.scalars(select(AppointmentType).where(AppointmentType.name == "General consultation")).one()
    return provider, kind


def _free_start(provider, kind) -> datetime:
    from app.models import AvailabilitySlot

    return db.session.scalars(select(AvailabilitySlot.start_at).where(
        AvailabilitySlot.provider_id == provider.id, AvailabilitySlot.appointment_type_id == kind.id,
        AvailabilitySlot.status == "open", AvailabilitySlot.start_at > utcnow() + timedelta(days=3),
    ).order_by(AvailabilitySlot.start_at)).first()


def test_with_redis_down_a_hold_succeeds_and_the_relay_publishes_its_event_later(app, demo, redis_url, tmp_path):
    down = create_app(_config(app.config["SQLALCHEMY_DATABASE_URI"], f"unix://{tmp_path}/no-redis.sock"))
    with down.app_context():
        provider, kind = _weber_consult()
        result = hold(Actor.guest(provider.organization_id), contact=Contact("Gus Guest", "gus@example.com"),
                      provider_id=provider.id, appointment_type_id=kind.id, start=_free_start(provider, kind))
        event = db.session.scalars(select(BookingEvent).where(BookingEvent.booking_id == result.booking.id)).one()
        assert event.action == "held" and event.published_at is None  # recorded, not yet sent
        channel = f"bookwell:org:{provider.organization_id}:provider:{provider.id}"
    listener = redis.Redis.from_url(redis_url).pubsub()
    listener.subscribe(channel)
    listener.get_message(timeout=1)  # the subscribe confirmation
    with app.app_context():
        assert publish_pending() >= 1
        assert db.session.get(BookingEvent, event.id).published_at is not None
        assert publish_pending() == 0  # sent once, then marked
    deadline, received = time.monotonic() + 5, None
    while received is None and time.monotonic() < deadline:
        message = listener.get_message(timeout=0.5)
        if message and message["type"] == "message":
            received = json.loads(message["data"])
    listener.close()
    assert received["booking_id"] == str(result.booking.id) and received["event"] == "held"


def _next_message(listener, seconds: float = 5.0) -> dict | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = listener.get_message(timeout=0.2)
        if message and message["type"] == "message":
            return json.loads(message["data"])
    return None


def test_with_redis_up_an_event_goes_out_at_commit_and_the_relay_only_confirms_it(app, demo, redis_url):
    with app.app_context():
        provider, kind = _weber_consult()
    listener = redis.Redis.from_url(redis_url).pubsub()
    listener.subscribe(f"bookwell:org:{provider.organization_id}:provider:{provider.id}")
    listener.get_message(timeout=1)  # the subscribe confirmation
    with app.app_context():
        result = hold(Actor.guest(provider.organization_id), contact=Contact("Ina", "ina@example.com"),
                      provider_id=provider.id, appointment_type_id=kind.id, start=_free_start(provider, kind))
        event = db.session.scalars(select(BookingEvent).where(BookingEvent.booking_id == result.booking.id)).one()
        sent = _next_message(listener)
        assert sent is not None and sent["event_id"] == str(event.id)  # sent right after the commit
        assert event.published_at is None  # no second transaction for it: the relay writes the mark
        assert redis.Redis.from_url(redis_url).exists(sent_mark(event.id)) == 1
        assert publish_pending() >= 1
        assert db.session.get(BookingEvent, event.id).published_at is not None
    assert _next_message(listener, 0.5) is None  # confirmed, not sent a second time
    listener.close()


def test_an_event_whose_process_died_before_publishing_is_sent_by_the_relay(app, demo, redis_url):
    """The crash window: committed, but the after-commit publish never ran (no mark)."""
    with app.app_context():
        provider, kind = _weber_consult()
        result = hold(Actor.guest(provider.organization_id), contact=Contact("Ola", "ola@example.com"),
                      provider_id=provider.id, appointment_type_id=kind.id, start=_free_start(provider, kind))
        event = db.session.scalars(select(BookingEvent).where(BookingEvent.booking_id == result.booking.id)).one()
        channel = f"bookwell:org:{provider.organization_id}:booking:{result.booking.id}"
        event_id, booking_id = event.id, result.booking.id
    redis.Redis.from_url(redis_url).delete(sent_mark(event_id))  # as if the process died before its MULTI
    listener = redis.Redis.from_url(redis_url).pubsub()
    listener.subscribe(channel)
    listener.get_message(timeout=1)
    with app.app_context():
        assert publish_pending() >= 1
        assert db.session.get(BookingEvent, event_id).published_at is not None
    received = _next_message(listener)
    listener.close()
    assert received is not None and received["event_id"] == str(event_id) and received["event"] == "held"
    assert received["booking_id"] == str(booking_id)


def _metric(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_expose_the_named_series_and_count_outcomes_and_conflicts(app, demo, client):
    before = client.get("/metrics").get_data(as_text=True)
    for name in ("exposed_slots_count", "hold_to_confirm_ms", "bookings_total", "booking_conflicts_total",
                 "job_failures_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in before, name
    with app.app_context():
        provider, kind = _weber_consult()
        start = _free_start(provider, kind)
    body = {"provider_id": str(provider.id), "appointment_type_id": str(kind.id),
            "start": start.astimezone(timezone.utc).isoformat(), "name": "Mo", "email": "mo@example.com"}
    first = client.post("/api/v1/bookings", json=body, headers={"Idempotency-Key": "m1"})
    second = client.post("/api/v1/bookings", json=body, headers={"Idempotency-Key": "m2"})
    assert (first.status_code, second.status_code) == (201, 409)
    confirm = client.post(f"/api/v1/bookings/{first.json['id']}/confirm",
                          json={"hold_token": first.json["hold_token"]}, headers={"Idempotency-Key": "m3"})
    assert confirm.status_code == 200
    after = client.get("/metrics").get_data(as_text=True)
    assert _metric(after, "bookings_total", outcome="held") == _metric(before, "bookings_total", outcome="held") + 1
    assert _metric(after, "bookings_total", outcome="confirmed") == _metric(before, "bookings_total",
                                                                            outcome="confirmed") + 1
    assert _metric(after, "booking_conflicts_total", code="SLOT_FULL") == _metric(
        before, "booking_conflicts_total", code="SLOT_FULL") + 1
    assert _metric(after, "hold_to_confirm_ms_count") == _metric(before, "hold_to_confirm_ms_count") + 1
