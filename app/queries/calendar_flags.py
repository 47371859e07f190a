"""Bookings whose written-back calendar event was moved or deleted outside Bookwell (front desk)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.models import Booking, CalendarEventLink
from app.models.booking import OCCUPYING_STATUSES


@dataclass(frozen=True)
class CalendarFlag:
    booking: Booking
    reason: str
    flagged_at: datetime


def flagged_bookings(organization_id: uuid.UUID, limit: int = 50) -> list[CalendarFlag]:
    rows = db.session.execute(
        select(CalendarEventLink, Booking).join(Booking, Booking.id == CalendarEventLink.booking_id)
        .where(CalendarEventLink.organization_id == organization_id, CalendarEventLink.flagged_at.isnot(None),
               Booking.status.in_(OCCUPYING_STATUSES))
        .order_by(CalendarEventLink.flagged_at).limit(limit)).all()
    return [CalendarFlag(booking, link.flag_reason or "changed in the external calendar", link.flagged_at)
            for link, booking in rows]
