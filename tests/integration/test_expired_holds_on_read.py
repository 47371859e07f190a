"""An expired hold never hides a time: slot reads release stale holds first."""
from __future__ import annotations

from datetime import timedelta, timezone

from sqlalchemy import select

from app.booking.actors import Actor
from app.booking.hold import Contact, hold
from app.extensions import db
from app.models import AppointmentType, AvailabilitySlot, Booking, Provider, utcnow


def test_a_hold_that_ran_out_is_offered_again_on_the_next_read(app, demo, client):
    with app.app_context():
        provider = db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Anna Weber")).one()
        kind = db.session.scalars(select(AppointmentType).where(AppointmentType.name == "General consultation")).one()
        slot = db.session.scalars(select(AvailabilitySlot).where(
            AvailabilitySlot.provider_id == provider.id, AvailabilitySlot.appointment_type_id == kind.id,
            AvailabilitySlot.status == "open", AvailabilitySlot.start_at > utcnow() + timedelta(days=3),
        ).order_by(AvailabilitySlot.start_at)).first()
        start, day = slot.start_at, slot.start_at.astimezone(timezone.utc).date()
        type_id, provider_id = str(kind.id), str(provider.id)
        # held 15 minutes ago with a 10-minute hold: expired 5 minutes ago, not yet cleaned up
        result = hold(Actor.guest(provider.organization_id), contact=Contact("Old Hold", "old@example.com"),
                      provider_id=provider.id, appointment_type_id=kind.id, start=start,
                      now=utcnow() - timedelta(minutes=15))
        booking_id = result.booking.id
        assert db.session.get(Booking, booking_id).status == "held"
    answer = client.get("/api/v1/slots", query_string={"appointment_type_id": type_id,
                                                        "provider_id": provider_id, "date": day.isoformat(),
                                                        "timezone": "UTC"},
                        headers={"X-Exposure-Variant": "all"})
    assert answer.status_code == 200
    assert start.isoformat().replace("+00:00", "Z") in {s["start"] for s in answer.json["slots"]}
    with app.app_context():
        assert db.session.get(Booking, booking_id).status == "expired"
