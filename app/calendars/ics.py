"""RFC 5545 calendar files for a booking, built with the icalendar library."""
from __future__ import annotations

from datetime import datetime, timezone

from icalendar import Calendar, Event, vText

from app.models import Booking

PRODID = "-//Bookwell//Appointments//EN"


def booking_calendar(booking: Booking, *, method: str = "PUBLISH", sequence: int | None = None) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", f"{booking.id}@bookwell")
    event.add("dtstamp", datetime.now(timezone.utc))
    event.add("dtstart", booking.start_at.astimezone(timezone.utc))
    event.add("dtend", booking.end_at.astimezone(timezone.utc))
    event.add("sequence", booking.reschedule_count if sequence is None else sequence)
    event.add("summary", f"{booking.appointment_type.name} with {booking.provider.display_name}")
    where = booking.location
    event["location"] = vText(", ".join(p for p in (where.name, where.address) if p))
    event.add("status", {"confirmed": "CONFIRMED", "pending": "TENTATIVE"}.get(booking.status, "CANCELLED"))
    calendar.add_component(event)
    return calendar.to_ical()
