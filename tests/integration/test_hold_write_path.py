"""A hold over the API is one write transaction: its Idempotency-Key, the booking, its event
(marked published) and the stored answer commit together (docs/performance.md). A replay
writes nothing; a refused hold stores only its answer. On SQLite and PostgreSQL.

Counted with the engine's own events: a transaction (in the tests, the savepoint that
stands for it) counts as a write when it ran an INSERT, UPDATE or DELETE before its commit.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager

from sqlalchemy import event, select

from app.events import sent_mark
from app.extensions import db
from app.redis_client import get_redis
from app.models import Booking, BookingEvent, IdempotencyRecord
from tests.integration.test_booking_api import V1, consult_body, demo, state, with_key  # noqa: F401 - fixture


@contextmanager
def counted_writes(app):
    """Yields a list that receives one entry per committed transaction that wrote."""
    with app.app_context():
        engine = db.engine
    writes, wrote = [], {"now": False}

    def before(conn, cursor, statement, *args):
        head = statement.lstrip()[:20].upper()
        if head.startswith(("INSERT", "UPDATE", "DELETE")):
            wrote["now"] = True
        elif head.startswith("RELEASE SAVEPOINT"):  # the test's outer transaction: a savepoint per commit
            commit(conn)
        elif head.startswith("ROLLBACK TO SAVEPOINT"):
            rollback(conn)

    def commit(conn):
        if wrote["now"]:
            writes.append(True)
        wrote["now"] = False

    def rollback(conn):
        wrote["now"] = False

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)
    try:
        yield writes
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "commit", commit)
        event.remove(engine, "rollback", rollback)


def test_a_hold_commits_its_key_booking_event_and_answer_in_one_write_transaction(demo, app):
    body = consult_body(demo, "09:30")
    with counted_writes(app) as writes:
        first = demo.patient.client.post(f"{V1}/bookings", json=body, headers=with_key(demo.patient, "one-write"))
    assert first.status_code == 201, first.get_data(as_text=True)
    assert len(writes) == 1
    with app.app_context():
        record = db.session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == "one-write")).one()
        assert (record.state, record.response_status, record.response_body) == ("done", 201, first.get_json())
        booking = db.session.get(Booking, uuid.UUID(first.get_json()["id"]))
        assert booking is not None and booking.status == "held"
        events = db.session.scalars(select(BookingEvent).where(BookingEvent.booking_id == booking.id)).all()
        assert [e.action for e in events] == ["held"]
        assert get_redis().exists(sent_mark(events[0].id)) == 1  # sent after commit, no second transaction

    before = state(app)
    with counted_writes(app) as writes:
        again = demo.patient.client.post(f"{V1}/bookings", json=body, headers=with_key(demo.patient, "one-write"))
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert writes == [] and state(app) == before


def test_a_refused_hold_stores_only_its_answer_and_a_retry_replays_it(demo, app):
    body = consult_body(demo, "09:30")
    taken = demo.guest.client.post(f"{V1}/bookings", json={**body, "name": "Gus", "email": "gus@example.com"},
                                   headers=with_key(demo.guest, "first-comer"))
    assert taken.status_code == 201, taken.get_data(as_text=True)
    before = state(app)
    with counted_writes(app) as writes:
        refused = demo.patient.client.post(f"{V1}/bookings", json=body, headers=with_key(demo.patient, "too-late"))
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] in ("SLOT_FULL", "SLOT_UNAVAILABLE")
    assert len(writes) == 1 and state(app) == before  # the answer only: no booking, event or slot changed
    again = demo.patient.client.post(f"{V1}/bookings", json=body, headers=with_key(demo.patient, "too-late"))
    assert again.status_code == 409 and again.get_json() == refused.get_json()
    assert again.headers["Idempotent-Replayed"] == "true" and state(app) == before


def test_slot_versions_move_after_the_writer_gate_and_before_live_pages_hear_of_the_hold(demo, monkeypatch):
    """The Redis work of a commit waits until the next writer may go on (app/database.py), and
    the slot cache versions move before the booking event goes out, so a page that re-reads
    its slots on that event never gets the cached answer from before the hold."""
    from app import database, events
    from app.availability import cache

    order = []
    bump, publish = cache._bump_versions, events._publish_recorded

    def bump_spy(*args):
        order.append(("versions", database._writing.get()))
        return bump(*args)

    def publish_spy(*args):
        order.append(("event", database._writing.get()))
        return publish(*args)

    monkeypatch.setattr(cache, "_bump_versions", bump_spy)
    monkeypatch.setattr(events, "_publish_recorded", publish_spy)
    response = demo.patient.client.post(f"{V1}/bookings", json=consult_body(demo, "10:30"),
                                        headers=with_key(demo.patient, "order"))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert order == [("versions", False), ("event", False)]


def test_a_new_hold_does_not_look_up_write_back_calendars(demo, app):
    """A hold is not written to any calendar (only pending and confirmed visits are), and a
    booking born in the transaction has no links yet: nothing to plan, no query in the lock.
    (Holds that are then confirmed are written back: tests/integration/test_calendar_caldav.py.)"""
    with app.app_context():
        engine = db.engine
    seen = []

    def spy(conn, cursor, statement, *args):
        if "calendar_connections" in statement or "calendar_event_links" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", spy)
    try:
        response = demo.patient.client.post(f"{V1}/bookings", json=consult_body(demo, "11:30"),
                                            headers=with_key(demo.patient, "no-calendars"))
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert seen == []
