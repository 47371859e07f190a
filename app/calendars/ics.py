"""RFC 5545 calendar files for a booking, built with the icalendar library."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import parseaddr

from icalendar import Calendar, Event, vCalAddress, vText
from icalendar.parser import Contentline

from app.models import Booking

PRODID = "-//Bookwell//Appointments//EN"


def booking_calendar(booking: Booking, *, method: str = "PUBLISH", sequence: int | None = None) -> bytes:
    where = booking.location
    return invite(uid=f"{booking.id}@bookwell", start=booking.start_at, end=booking.end_at,
                  summary=f"{booking.appointment_type.name} with {booking.provider.display_name}",
                  location=", ".join(p for p in (where.name, where.address) if p), status=booking.status,
                  method=method, sequence=booking.reschedule_count if sequence is None else sequence)


def invite(*, uid: str, start: datetime, end: datetime, summary: str, location: str, status: str,
           method: str, sequence: int, organizer_name: str | None = None, organizer_email: str | None = None,
           attendee_email: str | None = None, attendee_name: str | None = None,
           manage_url: str | None = None, stamp: datetime | None = None) -> bytes:
    """One VEVENT in a VCALENDAR with METHOD (PUBLISH, REQUEST or CANCEL), as bytes.

    Written directly, byte for byte what icalendar writes for `invite_calendar` with the same
    arguments (tests/unit/test_email_build.py compares them): icalendar's property model
    cost ~0.6 ms an invite, the largest part of a message's CPU time (docs/performance-background.md).
    """
    stamp = stamp or datetime.now(timezone.utc)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{_text(PRODID)}", f"METHOD:{_text(method)}",
             "BEGIN:VEVENT", f"SUMMARY:{_text(summary)}", f"DTSTART:{_utc(start)}", f"DTEND:{_utc(end)}",
             f"DTSTAMP:{_utc(stamp)}", f"UID:{_text(uid)}", f"SEQUENCE:{int(sequence)}"]
    invitation = method in ("REQUEST", "CANCEL") and attendee_email
    if invitation:
        params = [f"CN={_param(attendee_name, quote_also=' ' + chr(39))}"] if attendee_name else []
        params += [f"PARTSTAT={'NEEDS-ACTION' if method == 'REQUEST' else 'DECLINED'}", "ROLE=REQ-PARTICIPANT",
                   "RSVP=FALSE"]
        lines.append(f"ATTENDEE;{';'.join(params)}:mailto:{attendee_email}")
    lines += [f"DESCRIPTION:{_text(_description(summary, location, manage_url))}", f"LOCATION:{_text(location)}"]
    if invitation:
        name, address = _organizer(organizer_name, organizer_email)
        lines.append(f"ORGANIZER;CN={_param(name, quote_also=' ' + chr(39))}:mailto:{address}")
    lines += [f"STATUS:{_status(method, status)}", "END:VEVENT", "END:VCALENDAR"]
    out = []
    for line in lines:
        raw = line.encode("utf-8")
        out.append(raw if len(raw) < 75 else Contentline(line).to_ical())  # icalendar's own folding
    return b"\r\n".join(out) + b"\r\n"


def _text(value: str) -> str:
    """RFC 5545 TEXT escaping, in icalendar's order."""
    return (value.replace("\\N", "\n").replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


_RFC6868 = re.compile(r'\^|\r\n|\r|\n|"')
_RFC6868_BY = {"^": "^^", "\n": "^n", "\r": "^n", "\r\n": "^n", '"': "^'"}
_QUOTABLE = re.compile("[,;:\u2019]")


def _param(value: str, quote_also: str = "") -> str:
    """A parameter value as icalendar writes it: RFC 6868 escapes, quoted when needed."""
    escaped = _RFC6868.sub(lambda m: _RFC6868_BY[m.group(0)], value).replace('"', "'")
    if _QUOTABLE.search(escaped) or any(c in value for c in quote_also):
        return f'"{escaped}"'
    return escaped


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _description(summary: str, location: str, manage_url: str | None) -> str:
    description = f"{summary}\n{location}" if location else summary
    if manage_url:
        description += f"\n\nChange or cancel: {manage_url}"
    return description


def _status(method: str, status: str) -> str:
    return "CANCELLED" if method == "CANCEL" else {"confirmed": "CONFIRMED", "pending": "TENTATIVE"}.get(
        status, "CANCELLED")


def invite_calendar(*, uid: str, start: datetime, end: datetime, summary: str, location: str, status: str,
                    method: str, sequence: int, organizer_name: str | None = None, organizer_email: str | None = None,
                    attendee_email: str | None = None, attendee_name: str | None = None,
                    manage_url: str | None = None, stamp: datetime | None = None) -> Calendar:
    """One VEVENT in a VCALENDAR with METHOD (PUBLISH, REQUEST or CANCEL), as icalendar's model
    (the reference `invite` is tested against).

    A REQUEST or CANCEL is an invitation to one person (RFC 5546/6047): the clinic is its
    ORGANIZER (`organizer_email` defaults to the MAIL_FROM address) and the recipient its
    ATTENDEE, so mail clients show an invitation that updates and cancels itself. UID and
    SEQUENCE are the caller's. DESCRIPTION repeats what and where, and the manage link if any.
    """
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp or datetime.now(timezone.utc))
    event.add("dtstart", start.astimezone(timezone.utc))
    event.add("dtend", end.astimezone(timezone.utc))
    event.add("sequence", sequence)
    event.add("summary", summary)
    event["location"] = vText(location)
    description = f"{summary}\n{location}" if location else summary
    if manage_url:
        description += f"\n\nChange or cancel: {manage_url}"
    event.add("description", description)
    if method in ("REQUEST", "CANCEL") and attendee_email:
        name, address = _organizer(organizer_name, organizer_email)
        organizer = vCalAddress(f"mailto:{address}")
        organizer.params["CN"] = vText(name)
        event.add("organizer", organizer)
        attendee = vCalAddress(f"mailto:{attendee_email}")
        if attendee_name:
            attendee.params["CN"] = vText(attendee_name)
        attendee.params["ROLE"] = vText("REQ-PARTICIPANT")
        attendee.params["PARTSTAT"] = vText("NEEDS-ACTION" if method == "REQUEST" else "DECLINED")
        attendee.params["RSVP"] = vText("FALSE")
        event.add("attendee", attendee)
    event.add("status", "CANCELLED" if method == "CANCEL" else
              {"confirmed": "CONFIRMED", "pending": "TENTATIVE"}.get(status, "CANCELLED"))
    calendar.add_component(event)
    return calendar


def _organizer(name: str | None, email: str | None) -> tuple[str, str]:
    """The clinic as organizer: its name, and the address mail comes from."""
    if not email:
        try:
            from flask import current_app

            sender_name, email = parseaddr(current_app.config["MAIL_FROM"])
        except (RuntimeError, KeyError):
            sender_name, email = "", ""
        name = name or sender_name
    return name or "Bookwell", email or "no-reply@bookwell.local"
