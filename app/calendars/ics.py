"""RFC 5545 calendar files for a booking, built with the icalendar library."""
from __future__ import annotations

from datetime import datetime, timezone

from icalendar import Calendar, Event, vText

from app.models import Booking

PRODID = "-//Bookwell//Appointments//EN"


def booking_calendar(booking: Booking, *, method: str = "PUBLISH", sequence: int | None = None) -> bytes:
    where = booking.location
    return invite(uid=f"{booking.id}@bookwell", start=booking.start_at, end=booking.end_at,
                  summary=f"{booking.appointment_type.name} with {booking.provider.display_name}",
                  location=", ".join(p for p in (where.name, where.address) if p), status=booking.status,
                  method=method, sequence=booking.reschedule_count if sequence is None else sequence)


def invite(*, uid: str, start: datetime, end: datetime, summary: str, location: str, status: str,
           method: str, sequence: int) -> bytes:
    """One VEVENT in a VCALENDAR with METHOD (PUBLISH, REQUEST or CANCEL)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", datetime.now(timezone.utc))
    event.add("dtstart", start.astimezone(timezone.utc))
    event.add("dtend", end.astimezone(timezone.utc))
    event.add("sequence", sequence)
    event.add("summary", summary)
    event["location"] = vText(location)
    event.add("status", "CANCELLED" if method == "CANCEL" else
              {"confirmed": "CONFIRMED", "pending": "TENTATIVE"}.get(status, "CANCELLED"))
    calendar.add_component(event)
    return calendar.to_ical()
