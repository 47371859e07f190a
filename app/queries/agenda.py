"""A provider's agenda: bookings, blocked time, time off and external busy time."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import AvailabilityException, Booking, ExternalBusyTime, TimeOff

SHOWN = ("held", "pending", "confirmed", "completed", "no_show")


@dataclass(frozen=True)
class AgendaItem:
    kind: str  # booking | blocked | time_off | busy
    start: datetime
    end: datetime
    title: str
    status: str
    booking: Booking | None = None


def local_range(first: date, days: int, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return (datetime.combine(first, time(0), tzinfo=zone),
            datetime.combine(first + timedelta(days=days), time(0), tzinfo=zone))


def items(organization_id: uuid.UUID, provider_id: uuid.UUID, start: datetime, end: datetime) -> list[AgendaItem]:
    out: list[AgendaItem] = []
    for b in db.session.scalars(select(Booking).options(
            joinedload(Booking.patient), joinedload(Booking.appointment_type), joinedload(Booking.location))
            .where(Booking.organization_id == organization_id, Booking.provider_id == provider_id,
                   Booking.status.in_(SHOWN), Booking.start_at < end, Booking.end_at > start)).unique():
        out.append(AgendaItem("booking", b.start_at, b.end_at, f"{b.contact_name} · {b.appointment_type.name}",
                              b.status, b))
    for x in db.session.scalars(select(AvailabilityException).where(
            AvailabilityException.organization_id == organization_id, AvailabilityException.provider_id == provider_id,
            AvailabilityException.status == "blocked", AvailabilityException.start_at < end,
            AvailabilityException.end_at > start)):
        out.append(AgendaItem("blocked", x.start_at, x.end_at, x.reason or "Blocked", "blocked"))
    for off in db.session.scalars(select(TimeOff).where(
            TimeOff.organization_id == organization_id, TimeOff.provider_id == provider_id,
            TimeOff.status.in_(("approved", "pending")), TimeOff.start_at < end, TimeOff.end_at > start)):
        out.append(AgendaItem("time_off", off.start_at, off.end_at,
                              "Time off" + (" (awaiting approval)" if off.status == "pending" else ""), off.status))
    for busy in db.session.scalars(select(ExternalBusyTime).where(
            ExternalBusyTime.organization_id == organization_id, ExternalBusyTime.provider_id == provider_id,
            ExternalBusyTime.start_at < end, ExternalBusyTime.end_at > start)):
        out.append(AgendaItem("busy", busy.start_at, busy.end_at, "Busy (external calendar)", "busy"))
    return sorted(out, key=lambda i: (i.start, i.end, i.kind))


def conflicts(booking: Booking) -> list[AgendaItem]:
    """What else overlaps a booking's time (time off, blocks, busy, other bookings)."""
    return [i for i in items(booking.organization_id, booking.provider_id, booking.block_start_at, booking.block_end_at)
            if not (i.kind == "booking" and i.booking.id == booking.id)
            and not (i.kind == "booking" and i.status in ("completed", "no_show"))]
