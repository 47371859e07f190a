"""Messages built for sending: the short-header policy writes exactly the bytes compat32 would."""
from __future__ import annotations

import email
import io
from email.generator import BytesGenerator
from email.policy import compat32

import pytest
from flask import Flask

from app.notifications import email as mail

ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"


def flatten(message, policy) -> bytes:
    out = io.BytesIO()
    BytesGenerator(out, policy=policy).flatten(message, linesep="\r\n")
    return out.getvalue()


@pytest.mark.parametrize("sender, to, subject", [
    ("Bookwell <no-reply@bookwell.local>", "patient@example.com", "Your visit is confirmed"),
    ("Praxis Müller <no-reply@praxis.example>", "jörg@example.com", "Termin bestätigt – Fr 5. Dez, 09:00"),
    ("Bookwell <no-reply@bookwell.local>", "a-rather-long-address.of-a-patient@some-long-domain.example.org",
     "A subject long enough that compat32 must fold it over more than one line, as it always did  twice"),
    ("x@bookwell.local", "p@example.com", " padded subject "),
])
def test_a_message_flattens_to_the_same_bytes_as_with_compat32(sender, to, subject):
    app = Flask(__name__)
    app.config["MAIL_FROM"] = sender
    with app.app_context():
        for ics in (None, ICS):
            message = mail.build(to, subject, "Hello\n" * 40, "<p>Hello</p>", "row-1", ics, "REQUEST")
            fast = flatten(message, mail.SHORT_HEADERS.clone(linesep="\r\n"))
            assert fast == flatten(message, compat32.clone(linesep="\r\n"))
            parsed = email.message_from_bytes(fast, policy=email.policy.default)
            assert str(parsed["Subject"]).strip() == subject.strip()
            assert all(part.get_boundary().startswith("=_bookwell_") for part in parsed.walk()
                       if part.is_multipart())
            assert [part.get_content_type() for part in parsed.walk()][-3 if ics else -2:] == (
                ["text/plain", "text/html", "text/calendar"] if ics else ["text/plain", "text/html"])
            assert (parsed.get_content_type() == "multipart/mixed") is (ics is not None)


@pytest.mark.parametrize("summary, location, name, manage_url", [
    ("Consultation with Dr. Weber", "Main", "Pat", None),
    ("Consultation with Dr. Weber", "", "", None),
    ("Erstberatung mit Dr. Müller; Folgetermin, lang", "Praxis Müller, Hauptstraße 1, 10115 Berlin",
     "Jörg O'Patient \"Jo\"", "https://bookwell.example/manage/" + "x" * 90),
    ("A \\ backslash\nand a line; with ^caret^ and \\N", "Room: 3\r\nFloor 2", "Caret^Name:\nX", None),
    ("x" * 73, "y" * 74 + "\\" + "z" * 10, "N’ame, with; all", "https://b.example/" + "a" * 56),
    ("日本語の予約" * 8, "東京都" * 20, "山田 太郎", "https://bookwell.example/m/ä"),
])
def test_an_invite_has_exactly_the_bytes_icalendar_writes(summary, location, name, manage_url):
    from datetime import datetime, timedelta, timezone

    from app.calendars.ics import invite, invite_calendar

    start = datetime(2026, 12, 5, 9, 0, 0, 123456, tzinfo=timezone.utc)
    stamp = datetime(2026, 12, 3, 4, 5, 6, 789, tzinfo=timezone.utc)
    for method in ("REQUEST", "CANCEL", "PUBLISH"):
        for status in ("confirmed", "pending", "cancelled"):
            arguments = dict(uid="b1@bookwell", start=start, end=start + timedelta(minutes=30), summary=summary,
                             location=location, status=status, method=method, sequence=1,
                             organizer_name="Praxis, Müller", organizer_email="no-reply@x.example",
                             attendee_email="p@example.com", attendee_name=name, manage_url=manage_url, stamp=stamp)
            assert invite(**arguments) == invite_calendar(**arguments).to_ical()
