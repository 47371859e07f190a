"""Invariant 6 with Redis lost: a booking event counts as handled only when the work it
causes is stored, and whatever Redis forgot is recreated from the database, once.

In-process on SQLite and PostgreSQL with the real Redis: the relay stores the messages
of events whose job never reached Redis; `handle_event` creates an event's work exactly
once; the sweep queues again the sends whose job Redis lost, and leaves alone the ones
still waiting; one event that cannot be handled does not hold up the others.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import redis
from rq.job import Job, JobStatus
from sqlalchemy import select

from app import create_app, event_work
from app.booking import lifecycle
from app.booking.hold import hold
from app.event_work import handle_event, handle_unhandled, send_notification, take_waiting
from app.events import relay
from app.extensions import db
from app.models import AvailabilitySlot, BookingEvent, Notification, utcnow
from tests.conftest import _config
from tests.integration.booking_helpers import Clinic, events_of, load_clinic
from tests.integration.helpers import seed_demo_clinic
from workers.jobs import sweep_notifications
from workers.queues import DEFAULT, queue

NOW = timedelta(0)


@pytest.fixture
def clinic(app, db_session, monkeypatch) -> Clinic:
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        yield load_clinic()


def book(clinic: Clinic, nth: int) -> uuid.UUID:
    """Hold and confirm, as the demo patient, the `nth` open consultation with Dr. Weber (apart)."""
    starts = list(db.session.scalars(select(AvailabilitySlot.start_at).where(
        AvailabilitySlot.provider_id == clinic.weber, AvailabilitySlot.appointment_type_id == clinic.consult,
        AvailabilitySlot.status == "open", AvailabilitySlot.start_at > utcnow() + timedelta(days=2),
    ).order_by(AvailabilitySlot.start_at).limit(40)))
    patient = clinic.actor("patient")
    booking_id = hold(patient, provider_id=clinic.weber, appointment_type_id=clinic.consult,
                      start=starts[nth * 4]).booking.id
    lifecycle.confirm(patient, booking_id)
    return booking_id


def rows(booking_id: uuid.UUID) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.booking_id == booking_id)
                                   .order_by(Notification.created_at).execution_options(populate_existing=True)))


def handled(booking_id: uuid.UUID) -> list[bool]:
    db.session.expire_all()
    return [e.handled_at is not None for e in events_of(booking_id)]


def job_status(client: redis.Redis, row: Notification) -> str | None:
    job = Job.fetch_many([send_notification(row.id).job_id], connection=client)[0]
    return None if job is None else job.get_status(refresh=False)


def test_with_redis_down_at_commit_the_relay_stores_the_messages_and_marks_the_events_handled(
        app, clinic, tmp_path):
    down = create_app(_config(app.config["SQLALCHEMY_DATABASE_URI"], f"unix://{tmp_path}/no-redis.sock"))
    with down.app_context():
        booking_id = book(clinic, 0)
        assert handled(booking_id) == [False, False]  # held, confirmed: nothing queued, nothing stored
        assert rows(booking_id) == []

    counts = relay(grace=NOW)  # Redis is back; what the lost jobs would have done happens now
    assert counts["handled"] >= 2 and counts["published"] >= 2
    assert handled(booking_id) == [True, True]
    created = rows(booking_id)
    confirmation = [r for r in created if r.template == "confirmed"]
    assert {r.channel for r in confirmation} == {"email", "sms"}
    assert len([r for r in created if r.template == "reminder"]) == 4
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    assert {job_status(client, r) for r in confirmation} == {JobStatus.QUEUED}  # sends queued, by row id

    assert relay(grace=NOW) == {"handled": 0, "published": 0}  # once
    assert len(rows(booking_id)) == len(created)


def test_an_event_is_handled_once_however_often_it_is_handed_over(app, clinic):
    booking_id = book(clinic, 1)
    confirmed = events_of(booking_id)[-1]
    first = handle_event(confirmed.id)
    assert {d.func for d in first} == {"workers.jobs.send_notification"} and len(first) == 2
    stamp = db.session.get(BookingEvent, confirmed.id).handled_at
    count = len(rows(booking_id))
    assert handle_event(confirmed.id) == []  # already handled: no work, no jobs
    assert handle_unhandled(NOW) >= 1  # the hold's event; the confirmation is not touched again
    assert len(rows(booking_id)) == count
    db.session.expire_all()
    assert db.session.get(BookingEvent, confirmed.id).handled_at == stamp


def test_the_sweep_queues_again_the_sends_redis_lost_and_leaves_waiting_ones_alone(app, clinic):
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    booking_id = book(clinic, 2)
    event_work.dispatch(handle_event(events_of(booking_id)[-1].id))
    due_now = [r for r in rows(booking_id) if r.template != "reminder"]
    assert {job_status(client, r) for r in due_now} == {JobStatus.QUEUED}
    assert sweep_notifications() == 0  # every due send still has its job waiting

    lost, popped = due_now
    client.delete(Job.key_for(send_notification(lost.id).job_id))  # Redis forgot this job ...
    queue_key = queue(DEFAULT, client).key
    client.lrem(queue_key, 0, send_notification(lost.id).job_id)
    client.lrem(queue_key, 0, send_notification(popped.id).job_id)  # ... and a worker popped this one, then
    assert job_status(client, popped) == JobStatus.QUEUED  # Redis died: its stored status still says queued
    assert sweep_notifications() == 2
    assert {job_status(client, r) for r in due_now} == {JobStatus.QUEUED}
    assert sweep_notifications() == 0


def test_a_send_job_takes_the_sends_queued_right_behind_it_and_the_sweep_finds_those_never_sent(app, clinic):
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    first, second = book(clinic, 5), book(clinic, 6)
    queue_key = queue(DEFAULT, client).key
    client.delete(queue_key)  # only this test's jobs in the queue
    event_work.dispatch(handle_event(events_of(first)[-1].id))
    queue(DEFAULT, client).enqueue("workers.jobs.heartbeat", job_id="another-kind")  # a job of another kind
    event_work.dispatch(handle_event(events_of(second)[-1].id))
    firsts = [r for r in rows(first) if r.template != "reminder"]
    seconds = [r for r in rows(second) if r.template != "reminder"]
    assert len(firsts) == len(seconds) == 2

    head = client.lpop(queue_key).decode()  # what RQ does with the first job; that job then takes the rest
    own, behind = firsts if head == send_notification(firsts[0].id).job_id else reversed(firsts)
    assert head == send_notification(own.id).job_id
    assert take_waiting(send_notification(own.id), client, 10) == [str(behind.id)]  # not past the other kind
    assert job_status(client, behind) is None  # taken: no longer in Redis at all
    assert client.lindex(queue_key, 0) == b"another-kind"
    client.lpop(queue_key)
    taken = take_waiting(send_notification(seconds[0].id), client, 1)  # at most `limit`
    assert len(taken) == 1 and taken[0] in {str(r.id) for r in seconds}
    assert sorted(job_status(client, r) or "" for r in seconds) == ["", JobStatus.QUEUED]

    # The takers died before sending: the rows are still pending, so the sweep queues them again.
    assert sweep_notifications() == 3  # both of the first booking's (one popped, one taken) and one taken
    assert {job_status(client, r) for r in firsts + seconds} == {JobStatus.QUEUED}
    assert sweep_notifications() == 0


def test_an_event_that_cannot_be_handled_stays_open_and_does_not_hold_up_the_others(app, clinic, monkeypatch):
    handle_unhandled(NOW)  # the demo clinic's own events
    first, second = book(clinic, 3), book(clinic, 4)
    real = event_work.notification_work

    def broken_for_first(event):
        if event.booking_id == first:
            raise RuntimeError("a bug in one template")
        return real(event)

    monkeypatch.setattr(event_work, "WORK_CREATORS", [broken_for_first])
    assert handle_unhandled(NOW) == 2  # the second booking's hold and confirmation
    assert handled(first) == [False, False] and handled(second) == [True, True]
    assert rows(first) == [] and rows(second) != []

    monkeypatch.setattr(event_work, "WORK_CREATORS", [real])  # fixed: the next run catches up
    assert handle_unhandled(NOW) == 2
    assert handled(first) == [True, True] and rows(first) != []
