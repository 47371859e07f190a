"""Reconcile's bulk path (app/availability/batch_refresh.py): it compares and writes raw
driver values, so it must agree exactly with what the ORM path stores, touch only rows
that differ, keep slot ids, and load a batch's inputs exactly as one provider's."""
from __future__ import annotations

from datetime import time, timedelta

import pytest
from sqlalchemy import delete, insert, select, update

from app.availability import inputs
from app.availability.reconcile import reconcile
from app.database import write_transaction
from app.extensions import db
from app.models import (
    AppointmentType,
    AvailabilityRule,
    AvailabilitySlot,
    Location,
    Organization,
    Provider,
    new_id,
    utcnow,
    weekday_mask,
)
from tests.integration.helpers import seed_demo_clinic
from tests.slot_assertions import assert_slots_match_engine

SLOTS = AvailabilitySlot.__table__


@pytest.fixture
def demo(app, db_session, monkeypatch):
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        yield


def _ids_by_key(provider_id) -> dict:
    db.session.expire_all()
    return {(r.appointment_type_id, r.location_id, r.start_at): r.id for r in db.session.scalars(
        select(AvailabilitySlot).where(AvailabilitySlot.provider_id == provider_id))}


def _window():
    today = utcnow().date()
    return today + timedelta(days=2), today + timedelta(days=14)  # inside the tests' horizon


def test_rows_the_orm_path_wrote_are_recognised_as_equal_so_nothing_is_rewritten(demo):
    # The demo's slots were written by the commit-time triggers (SQLAlchemy types); the raw
    # comparison must see them as equal, row for row, on both backends.
    assert db.session.scalar(select(db.func.count()).select_from(SLOTS)) > 100
    report = reconcile(full=True)  # compare every row (no skipping on an earlier test's records)
    assert (report.changed_rows, report.skipped) == (0, 0)


def test_drift_is_repaired_row_by_row_and_untouched_slots_keep_their_ids(demo):
    weber = db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Anna Weber")).one()
    before = _ids_by_key(weber.id)
    first, last = _window()
    rows = db.session.scalars(select(AvailabilitySlot).where(
        AvailabilitySlot.provider_id == weber.id, AvailabilitySlot.local_date >= first,
        AvailabilitySlot.local_date <= last).order_by(AvailabilitySlot.start_at)).all()
    changed, removed, template = rows[0], rows[1], rows[2]
    changed_id, removed_key = changed.id, (removed.appointment_type_id, removed.location_id, removed.start_at)
    with write_transaction():  # drift behind the engine's back: bulk SQL, no ORM events
        db.session.execute(update(SLOTS).where(SLOTS.c.id == changed.id).values(status="blocked", booked=3))
        db.session.execute(delete(SLOTS).where(SLOTS.c.id == removed.id))
        bogus_id = new_id()
        db.session.execute(insert(SLOTS).values(
            id=bogus_id, organization_id=weber.organization_id, provider_id=weber.id,
            appointment_type_id=template.appointment_type_id, location_id=template.location_id,
            start_at=template.start_at + timedelta(minutes=7), end_at=template.end_at + timedelta(minutes=7),
            local_date=template.local_date, capacity=1, booked=0, held=0, status="open", computed_at=utcnow()))

    report = reconcile([weber.id])

    assert report.changed_rows == 3  # one update, one insert, one delete: nothing else written
    after = _ids_by_key(weber.id)
    assert bogus_id not in after.values()
    assert after[(changed.appointment_type_id, changed.location_id, changed.start_at)] == changed_id  # updated in place
    assert removed_key in after  # filled in again (a new id: the old row is gone)
    assert {k: v for k, v in after.items() if k != removed_key} == {k: v for k, v in before.items()
                                                                     if k != removed_key}
    assert_slots_match_engine(weber.id, first, last)
    assert reconcile([weber.id]).changed_rows == 0


def test_a_batch_spanning_organizations_loads_each_provider_exactly_as_alone(demo):
    with write_transaction():  # a second clinic whose provider shares the batch
        org = Organization(name="Other clinic", slug="other-clinic")
        db.session.add(org)
        db.session.flush()
        where = Location(organization_id=org.id, name="Elsewhere", timezone="America/New_York")
        kind = AppointmentType(organization_id=org.id, name="Visit", duration_minutes=20)
        db.session.add_all([where, kind])
        db.session.flush()
        other = Provider(organization_id=org.id, display_name="Dr. Other", timezone="America/New_York",
                         locations=[where])
        kind.providers.append(other)
        db.session.add(other)
        db.session.flush()
        db.session.add(AvailabilityRule(organization_id=org.id, provider_id=other.id, location_id=where.id,
                                        weekday_mask=weekday_mask([1, 2, 3]), start_time=time(9),
                                        end_time=time(12)))
    providers = db.session.scalars(select(Provider).order_by(Provider.id)).all()
    assert len({p.organization_id for p in providers}) == 2
    first, last = _window()
    together = inputs.load_many(providers, first, last)
    for provider in providers:
        alone = inputs.load_many([provider], first, last)[provider.id]
        assert together[provider.id] == alone, provider.display_name
    assert together[other.id].types[0][0].organization_id == org.id
    assert {r.location_id for r in together[other.id].rules} == {where.id}
    assert reconcile().changed_rows == 0  # the triggers filled the newcomer; the batch agrees
    assert_slots_match_engine(other.id, first, last)
