"""Notifications in-process, on SQLite and PostgreSQL: which messages each booking event
causes, what they say (calendar invites read back with the icalendar parser), that
they are created and sent once, reminders on an injected clock, retries with backoff
against a real aiosmtpd server on loopback, and logs without personal data.

Messages are created with `create_for_event(event_id)` and sent with `send_one(id)`,
as the worker's jobs do, but called directly; email goes over real SMTP to
tests/smtp_sink.py, SMS to the file adapter under the app's instance folder.
"""
from __future__ import annotations

import copy
import logging
import re
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import select, update

from app.accounts import find_user_by_email
from app.booking import lifecycle
from app.booking.hold import hold
from app.database import write_transaction
from app.demo_seed import DOMAIN
from app.extensions import db
from app.models import Notification, PatientProfile, User, utcnow
from app.notifications import dispatch as notification_dispatch
from app.notifications.dispatch import create_for_event, due, send_batch, send_one
from app.notifications.planner import Recipient, plan, reminders_wanted
from app.ops.logging_setup import mask_personal_data
from tests.integration.booking_helpers import Clinic, at, day_ahead, events_of, fresh, load_clinic
from tests.integration.helpers import seed_demo_clinic
from tests.processes import free_port
from tests.smtp_sink import Received, SmtpSink

PATIENT = f"patient@{DOMAIN}"
OLIVIA = f"olivia@{DOMAIN}"
WEBER = f"weber@{DOMAIN}"
FISCHER = f"fischer@{DOMAIN}"
FRONTDESK = f"frontdesk@{DOMAIN}"
BERLIN = ZoneInfo("Europe/Berlin")


# --- A1. the planner as a table (pure) -----------------------------------------------------------

P_BOTH = Recipient("patient", "p", "p@example.com", "+4915100000001", "en", True, True)
P_EMAIL = Recipient("patient", "p", "p@example.com", "+4915100000001", "en", True, False)
P_SMS = Recipient("patient", "p", "p@example.com", "+4915100000001", "en", False, True)
P_NO_PHONE = Recipient("patient", "p", "p@example.com", None, "en", True, True)
PROVIDER = Recipient("provider", "d", "doc@example.com", None)
DESK = Recipient("frontdesk", "f", "desk@example.com", None)

PT_BOTH = lambda t: {("patient", "email", t), ("patient", "sms", t)}  # noqa: E731
PROV = lambda t: {("provider", "email", t)}  # noqa: E731
DESK_ = lambda t: {("frontdesk", "email", t)}  # noqa: E731

PLAN_TABLE = [
    # action, from, to, requires_approval -> {(recipient kind, channel, template)}
    ("held", None, "held", False, set()),
    ("confirmed", "held", "confirmed", False, PT_BOTH("confirmed")),
    ("confirmed", "held", "pending", True, PT_BOTH("pending") | PROV("new_request") | DESK_("new_request")),
    ("accepted", "pending", "confirmed", True, PT_BOTH("accepted")),
    ("declined", "pending", "declined", True, PT_BOTH("declined")),
    ("cancelled", "confirmed", "cancelled", False, PT_BOTH("cancelled") | PROV("staff_cancelled")),
    ("cancelled", "confirmed", "cancelled", True,
     PT_BOTH("cancelled") | PROV("staff_cancelled") | DESK_("staff_cancelled")),
    ("cancelled", "pending", "cancelled", True,
     PT_BOTH("cancelled") | PROV("staff_cancelled") | DESK_("staff_cancelled")),
    ("cancelled", "held", "cancelled", False, set()),  # a released hold was never a visit
    ("cancelled", "held", "cancelled", True, set()),
    ("rescheduled", "confirmed", "confirmed", False, PT_BOTH("rescheduled") | PROV("staff_rescheduled")),
    ("rescheduled", "pending", "pending", True,
     PT_BOTH("rescheduled") | PROV("staff_rescheduled") | DESK_("staff_rescheduled")),
    ("expired", "held", "expired", False, set()),
    ("completed", "confirmed", "completed", False, set()),
    ("no_show", "confirmed", "no_show", False, set()),
]


@pytest.mark.parametrize("action, from_status, to_status, approval, expected", PLAN_TABLE,
                         ids=[f"{a}:{f}->{t}{'-approval' if r else ''}" for a, f, t, r, _ in PLAN_TABLE])
def test_planner_table(action, from_status, to_status, approval, expected):
    planned = plan(action, from_status, to_status, patient=P_BOTH, provider_staff=[PROVIDER], frontdesk=[DESK],
                   requires_approval=approval)
    got = [(p.recipient.kind, p.channel, p.template) for p in planned]
    assert len(got) == len(set(got)), got  # nobody hears the same thing twice
    assert set(got) == expected


@pytest.mark.parametrize("patient, channels", [
    (P_BOTH, {"email", "sms"}), (P_EMAIL, {"email"}), (P_SMS, {"sms"}), (P_NO_PHONE, {"email"}),
], ids=["both", "email-only", "sms-only", "sms-wanted-but-no-phone"])
def test_planner_sends_sms_only_when_wanted_and_possible(patient, channels):
    planned = plan("confirmed", "held", "confirmed", patient=patient, provider_staff=[], frontdesk=[],
                   requires_approval=False)
    assert {p.channel for p in planned} == channels
    assert set(reminders_wanted(patient)) == channels
    assert reminders_wanted(None) == []


def test_planner_without_a_patient_still_tells_the_staff_and_staff_never_get_sms():
    planned = plan("cancelled", "confirmed", "cancelled", patient=None,
                   provider_staff=[Recipient("provider", "d", "doc@example.com", "+4915100000009", "en", True, True)],
                   frontdesk=[DESK], requires_approval=False)
    assert [(p.recipient.kind, p.channel, p.template) for p in planned] == [
        ("provider", "email", "staff_cancelled"), ("provider", "sms", "staff_cancelled")]
    # the desk only hears about types that need approval
    assert plan("confirmed", "held", "pending", patient=None, provider_staff=[], frontdesk=[DESK],
                requires_approval=False) == []


# --- fixtures and helpers ------------------------------------------------------------------------

@pytest.fixture
def clinic(app, db_session, monkeypatch) -> Clinic:
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        yield load_clinic()


@pytest.fixture
def sink():
    with SmtpSink() as server:
        yield server


@pytest.fixture
def mail(app, sink, monkeypatch) -> SmtpSink:
    """The app sends email over SMTP to the sink and SMS to files."""
    for key, value in {"MAIL_BACKEND": "smtp", "SMTP_HOST": sink.host, "SMTP_PORT": sink.port, "SMTP_STARTTLS": False,
                       "SMTP_USERNAME": "", "SMS_BACKEND": "file", "REMINDER_OFFSETS_MINUTES": "1440,120",
                       "NOTIFICATION_LEASE_SECONDS": 120, "NOTIFICATION_MAX_ATTEMPTS": 8}.items():
        monkeypatch.setitem(app.config, key, value)
    return sink


def rows(booking_id, **where) -> list[Notification]:
    query = select(Notification).where(Notification.booking_id == booking_id).order_by(Notification.created_at)
    for key, value in where.items():
        query = query.where(getattr(Notification, key) == value)
    return list(db.session.scalars(query.execution_options(populate_existing=True)))


def process_last_event(booking_id) -> tuple[list, list[Notification]]:
    """Run create_for_event for the booking's newest event; (ready ids, rows it created)."""
    before = {row.id for row in rows(booking_id)}
    event = events_of(booking_id)[-1]
    ready = create_for_event(event.id)
    return ready, [row for row in rows(booking_id) if row.id not in before]


def messages_of(created: list[Notification]) -> Counter:
    return Counter((row.template, row.channel, row.recipient) for row in created if row.template != "reminder")


def send_all(created: list[Notification], now: datetime | None = None) -> dict:
    return {row.id: send_one(row.id, now=now) for row in created if row.template != "reminder"}


def calendar_of(message: Received) -> icalendar.Calendar:
    raw = message.calendar()
    assert raw is not None, f"no text/calendar part in {message.subject!r}"
    return icalendar.Calendar.from_ical(raw)


def vevent(cal: icalendar.Calendar):
    events = cal.walk("VEVENT")
    assert len(events) == 1
    return events[0]


def assert_invite(message: Received, *, method: str, uid: str, sequence: int | None, start: datetime,
                  min_sequence: int | None = None) -> None:
    cal = calendar_of(message)
    event = vevent(cal)
    assert str(cal["METHOD"]) == method
    part = next(p for p in message.message.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == method  # the MIME part says the same as the file
    assert str(event["UID"]) == uid
    if sequence is not None:
        assert int(event["SEQUENCE"]) == sequence
    if min_sequence is not None:
        assert int(event["SEQUENCE"]) >= min_sequence
    dtstart = event.decoded("DTSTART")
    assert dtstart.utcoffset() == timedelta(0), dtstart  # in UTC ...
    assert re.search(rb"^DTSTART:\d{8}T\d{6}Z\r?$", message.calendar(), re.M), message.calendar()  # ... as "Z"
    assert dtstart == start


def when_short(start: datetime) -> str:
    return start.astimezone(BERLIN).strftime("%a %d %b %H:%M")


def patient_phone() -> str:
    return db.session.scalars(select(PatientProfile).join(User, User.id == PatientProfile.user_id)
                              .where(User.role == "patient", PatientProfile.notify_sms)).one().phone


def set_profile(email: str, **values) -> None:
    with write_transaction():
        user = find_user_by_email(email)
        profile = db.session.scalars(select(PatientProfile).where(PatientProfile.user_id == user.id)).one()
        for key, value in values.items():
            setattr(profile, key, value)


def book_consult(clinic: Clinic, hhmm: str = "10:00", who: str = "patient"):
    """A held then confirmed Weber consultation on a Monday 3–9 days ahead; returns (booking id, start)."""
    start = at(day_ahead(1), hhmm)
    actor = clinic.actor(who)
    booking_id = hold(actor, provider_id=clinic.weber, appointment_type_id=clinic.consult, start=start).booking.id
    ready, created = process_last_event(booking_id)
    assert created == [] and ready == []  # a hold tells nobody
    lifecycle.confirm(actor, booking_id)
    return booking_id, start


# --- A2. the lifecycle of a patient booking --------------------------------------------------------

def test_a_patient_bookings_lifecycle_sends_exactly_the_expected_messages_with_valid_invites(
        app, clinic, mail):
    phone = patient_phone()
    booking_id, start = book_consult(clinic)
    uid = f"{booking_id}@bookwell"

    # confirmed: the patient by email (with an invite) and by text
    ready, created = process_last_event(booking_id)
    assert messages_of(created) == Counter({("confirmed", "email", PATIENT): 1, ("confirmed", "sms", phone): 1})
    assert set(ready) == {row.id for row in created if row.template != "reminder"}
    assert set(send_all(created).values()) == {"sent"}
    [confirmed] = mail.wait_for(1)
    assert confirmed.to == PATIENT and confirmed.rcpt_tos == (PATIENT,)
    assert confirmed.subject == f"Your visit on {when_short(start)} is confirmed"
    assert_invite(confirmed, method="REQUEST", uid=uid, sequence=0, start=start)
    email_row = next(r for r in created if r.channel == "email")
    assert str(email_row.id) in confirmed.message_id
    assert "General consultation" in confirmed.message.get_body(("plain",)).get_content()

    # rescheduled: the patient (new invite, same UID, SEQUENCE 1) and the provider
    new_start = at(day_ahead(1), "11:00")
    lifecycle.reschedule(clinic.actor("patient"), booking_id, start=new_start)
    _, created = process_last_event(booking_id)
    assert messages_of(created) == Counter({("rescheduled", "email", PATIENT): 1, ("rescheduled", "sms", phone): 1,
                                            ("staff_rescheduled", "email", WEBER): 1})
    assert set(send_all(created).values()) == {"sent"}
    moved = {m.to: m for m in mail.wait_for(3)[1:]}
    assert set(moved) == {PATIENT, WEBER}
    assert moved[PATIENT].subject == f"Your visit has moved to {when_short(new_start)}"
    assert_invite(moved[PATIENT], method="REQUEST", uid=uid, sequence=1, start=new_start)
    assert moved[WEBER].subject == f"Moved: General consultation to {when_short(new_start)}"

    # cancelled: the patient (METHOD:CANCEL, a higher SEQUENCE) and the provider
    lifecycle.cancel(clinic.actor("patient"), booking_id, reason="Feeling better")
    _, created = process_last_event(booking_id)
    assert messages_of(created) == Counter({("cancelled", "email", PATIENT): 1, ("cancelled", "sms", phone): 1,
                                            ("staff_cancelled", "email", WEBER): 1})
    assert set(send_all(created).values()) == {"sent"}
    gone = {m.to: m for m in mail.wait_for(5)[3:]}
    assert set(gone) == {PATIENT, WEBER}
    assert gone[PATIENT].subject == f"Your visit on {when_short(new_start)} is cancelled"
    assert_invite(gone[PATIENT], method="CANCEL", uid=uid, sequence=None, min_sequence=2, start=new_start)
    assert str(vevent(calendar_of(gone[PATIENT]))["STATUS"]) == "CANCELLED"
    assert gone[WEBER].subject == f"Cancelled: General consultation on {when_short(new_start)}"

    # and nothing else, ever: 5 emails, 3 texts, every row sent once
    assert mail.count() == 5
    everything = [r for r in rows(booking_id) if r.template != "reminder"]
    assert messages_of(everything) == Counter({
        ("confirmed", "email", PATIENT): 1, ("confirmed", "sms", phone): 1,
        ("rescheduled", "email", PATIENT): 1, ("rescheduled", "sms", phone): 1,
        ("staff_rescheduled", "email", WEBER): 1,
        ("cancelled", "email", PATIENT): 1, ("cancelled", "sms", phone): 1,
        ("staff_cancelled", "email", WEBER): 1})
    assert {(r.status, r.attempts) for r in everything} == {("sent", 1)}


def test_a_visit_moved_to_another_clinician_tells_the_one_who_had_it(app, clinic, mail):
    from app.models import AvailabilitySlot

    booking_id, start = book_consult(clinic)
    process_last_event(booking_id)
    chen_slot = db.session.scalars(select(AvailabilitySlot).where(
        AvailabilitySlot.provider_id == clinic.chen, AvailabilitySlot.appointment_type_id == clinic.consult,
        AvailabilitySlot.status == "open", AvailabilitySlot.start_at > utcnow() + timedelta(days=1))
        .order_by(AvailabilitySlot.start_at)).first()
    lifecycle.reschedule(clinic.actor("frontdesk"), booking_id, slot_id=chen_slot.id)
    _, created = process_last_event(booking_id)
    chen = f"chen@{DOMAIN}"
    assert messages_of(created) == Counter({("rescheduled", "email", PATIENT): 1,
                                            ("rescheduled", "sms", patient_phone()): 1,
                                            ("staff_moved_in", "email", chen): 1,
                                            ("staff_moved_away", "email", WEBER): 1})
    assert set(send_all(created).values()) == {"sent"}
    told = {m.to: m for m in mail.wait_for(3)}
    assert told[WEBER].subject == f"Moved to Dr. Maya Chen: General consultation on {start.astimezone(BERLIN):%a %d %b %Y, %H:%M} (Europe/Berlin)"
    assert "free in your agenda again" in told[WEBER].message.get_body(("plain",)).get_content()
    assert told[chen].subject.startswith("New for you: General consultation on ")


def test_a_type_that_needs_approval_tells_patient_provider_and_front_desk_then_the_patient_on_accept(
        app, clinic, mail):
    phone = patient_phone()
    start = at(day_ahead(3), "14:15")  # Fischer, Wednesday afternoon: clear of the seeded visits
    patient = clinic.actor("patient")
    booking_id = hold(patient, provider_id=clinic.fischer, appointment_type_id=clinic.physio, start=start).booking.id
    lifecycle.confirm(patient, booking_id)
    assert fresh(booking_id).status == "pending"
    _, created = process_last_event(booking_id)
    assert messages_of(created) == Counter({("pending", "email", PATIENT): 1, ("pending", "sms", phone): 1,
                                            ("new_request", "email", FISCHER): 1,
                                            ("new_request", "email", FRONTDESK): 1})
    assert not [r for r in created if r.template == "reminder"]  # not a visit yet
    assert set(send_all(created).values()) == {"sent"}
    got = {m.to: m for m in mail.wait_for(3)}
    assert got[PATIENT].subject == f"We received your request for {when_short(start)}"
    assert got[PATIENT].calendar() is None  # no invite for a request that may be declined
    new_request = f"New request: Physiotherapy session on {when_short(start)}"
    assert got[FISCHER].subject == got[FRONTDESK].subject == new_request

    lifecycle.accept(clinic.actor("frontdesk"), booking_id)
    _, created = process_last_event(booking_id)
    assert messages_of(created) == Counter({("accepted", "email", PATIENT): 1, ("accepted", "sms", phone): 1})
    assert {r.scheduled_for for r in created if r.template == "reminder"} == {
        start - timedelta(minutes=1440), start - timedelta(minutes=120)}
    assert set(send_all(created).values()) == {"sent"}
    accepted = mail.wait_for(4)[3]
    assert accepted.to == PATIENT and accepted.subject == f"Your visit on {when_short(start)} is confirmed"
    assert_invite(accepted, method="REQUEST", uid=f"{booking_id}@bookwell", sequence=0, start=start)
    assert mail.count() == 4


def test_a_patient_who_wants_no_texts_gets_email_only(app, clinic, mail):
    # Olivia has a phone but only notify_email (demo seed); Dr. Chen works in New York.
    start = at(day_ahead(1), "16:00")  # 10:00 or 11:00 in New York
    olivia = clinic.actor("olivia")
    booking_id = hold(olivia, provider_id=clinic.chen, appointment_type_id=clinic.consult, start=start).booking.id
    lifecycle.confirm(olivia, booking_id)
    _, created = process_last_event(booking_id)
    assert {(r.template, r.channel, r.recipient) for r in created} == {
        ("confirmed", "email", OLIVIA), ("reminder", "email", OLIVIA)}
    assert len([r for r in created if r.template == "reminder"]) == 2


# --- A3. language, SMS content ---------------------------------------------------------------------

def test_a_german_speaking_patient_gets_german_email_and_text(app, clinic, mail):
    set_profile(PATIENT, language="de")
    booking_id, start = book_consult(clinic)
    _, created = process_last_event(booking_id)
    assert {r.language for r in created} == {"de"}
    statuses = send_all(created)
    assert set(statuses.values()) == {"sent"}
    [message] = mail.wait_for(1)
    assert message.subject == f"Ihr Termin am {when_short(start)} ist bestätigt"
    assert "Guten Tag" in message.message.get_body(("plain",)).get_content()
    sms_row = next(r for r in created if r.channel == "sms")
    text = (Path(app.instance_path) / "sms" / f"{sms_row.id}.txt").read_text()
    assert "Ihr Termin am" in text and "bestätigt" in text


def test_texts_carry_no_visit_type_and_land_in_the_instance_folder(app, clinic, mail):
    phone = patient_phone()
    booking_id, start = book_consult(clinic)
    _, created = process_last_event(booking_id)
    sms_row = next(r for r in created if r.channel == "sms" and r.template == "confirmed")
    assert send_one(sms_row.id) == "sent"
    path = Path(app.instance_path) / "sms" / f"{sms_row.id}.txt"
    assert path.is_file(), sorted(p.name for p in path.parent.glob("*"))[:5]
    text = path.read_text()
    assert text.startswith(f"To: {phone}\n")
    body = text.split("\n\n", 1)[1]
    assert "General consultation" not in body and "consultation" not in body.lower()
    assert when_short(start) in body and "Berlin Mitte" in body
    row = rows(booking_id, id=sms_row.id)[0]
    assert (row.status, row.provider_message_id) == ("sent", f"file:{sms_row.id}")
    assert mail.count() == 0  # a text is not an email


# --- A4. idempotency -------------------------------------------------------------------------------

def test_replaying_an_event_creates_nothing_and_sending_twice_sends_once(app, clinic, mail):
    booking_id, _ = book_consult(clinic)
    event = events_of(booking_id)[-1]
    first = create_for_event(event.id)
    count = len(rows(booking_id))
    assert count == 6  # confirmed by email and text, and 2 x 2 reminders
    again = create_for_event(event.id)
    assert len(rows(booking_id)) == count
    assert sorted(again) == sorted(first)
    email_row = rows(booking_id, channel="email", template="confirmed")[0]
    assert send_one(email_row.id) == "sent"
    assert send_one(email_row.id) == "sent"  # already sent: nothing goes out
    assert create_for_event(event.id) == [r.id for r in rows(booking_id, channel="sms", template="confirmed")]
    mail.wait_for(1)
    assert mail.count() == 1  # SMTP answered before send_one returned: the count is final
    assert rows(booking_id, id=email_row.id)[0].attempts == 1


def test_replaying_a_reschedule_event_keeps_the_reminders_for_the_new_time(app, clinic, mail):
    booking_id, _ = book_consult(clinic)
    process_last_event(booking_id)
    new_start = at(day_ahead(1), "11:00")
    lifecycle.reschedule(clinic.actor("patient"), booking_id, start=new_start)
    event = events_of(booking_id)[-1]
    create_for_event(event.id)
    pending = {(r.channel, r.scheduled_for) for r in rows(booking_id, template="reminder", status="pending")}
    assert pending == {(c, new_start - timedelta(minutes=m)) for c in ("email", "sms") for m in (1440, 120)}
    rows_before = len(rows(booking_id))
    create_for_event(event.id)  # delivery is at least once: the same event again
    assert len(rows(booking_id)) == rows_before
    still = {(r.channel, r.scheduled_for) for r in rows(booking_id, template="reminder", status="pending")}
    assert still == pending


def test_a_confirmation_handled_after_a_reschedule_still_leaves_reminders_for_the_new_time(app, clinic, mail):
    booking_id, start = book_consult(clinic)
    confirmed = events_of(booking_id)[-1]
    new_start = at(day_ahead(1), "11:00")
    lifecycle.reschedule(clinic.actor("patient"), booking_id, start=new_start)
    moved = events_of(booking_id)[-1]
    create_for_event(confirmed.id)  # the worker only now gets to the confirmation ...
    create_for_event(moved.id)  # ... and then to the move, in order
    pending = {(r.channel, r.scheduled_for) for r in rows(booking_id, template="reminder", status="pending")}
    assert pending == {(c, new_start - timedelta(minutes=m)) for c in ("email", "sms") for m in (1440, 120)}


def test_a_confirmation_sent_after_a_reschedule_carries_the_invite_for_the_time_it_announces(app, clinic, mail):
    booking_id, start = book_consult(clinic)
    _, created = process_last_event(booking_id)
    email_row = next(r for r in created if r.channel == "email" and r.template == "confirmed")
    lifecycle.reschedule(clinic.actor("patient"), booking_id, start=at(day_ahead(1), "11:00"))
    assert send_one(email_row.id) == "sent"  # e.g. the retry once SMTP is back
    [message] = mail.wait_for(1)
    assert message.subject == f"Your visit on {when_short(start)} is confirmed"  # the text: the old time
    assert_invite(message, method="REQUEST", uid=f"{booking_id}@bookwell", sequence=0, start=start)


# --- A5. reminders on an injected clock -------------------------------------------------------------

def test_reminders_are_scheduled_sent_when_due_moved_and_cancelled(app, clinic, mail):
    booking_id, start = book_consult(clinic)
    _, created = process_last_event(booking_id)
    reminders = [r for r in created if r.template == "reminder"]
    assert sorted((r.channel, r.scheduled_for, r.payload["minutes_before"]) for r in reminders) == sorted(
        (c, start - timedelta(minutes=m), m) for c in ("email", "sms") for m in (1440, 120))
    assert {r.status for r in reminders} == {"pending"}
    day_before = start - timedelta(hours=24)
    two_hours = start - timedelta(hours=2)
    ids = {r.id for r in reminders}
    by_time = {t: {r.id for r in reminders if r.scheduled_for == t} for t in (day_before, two_hours)}

    # due() on an injected clock: nothing until the time comes, then exactly those
    assert ids & set(due(now=day_before - timedelta(seconds=1))) == set()
    assert ids & set(due(now=day_before)) == by_time[day_before]
    assert ids & set(due(now=two_hours - timedelta(seconds=1))) == by_time[day_before]
    assert ids & set(due(now=two_hours)) == ids

    email_24h = next(r for r in reminders if r.channel == "email" and r.scheduled_for == day_before)
    assert send_one(email_24h.id, now=day_before - timedelta(minutes=1)) == "not_due"
    assert rows(booking_id, id=email_24h.id)[0].attempts == 0
    assert mail.count() == 0
    assert send_one(email_24h.id, now=day_before + timedelta(seconds=5)) == "sent"
    [reminder] = mail.wait_for(1)
    assert reminder.to == PATIENT and reminder.subject == f"Reminder: your visit on {when_short(start)}"
    assert reminder.calendar() is None

    # moved: the pending reminders for the old time are cancelled, new ones exist for the new time
    new_start = at(day_ahead(1), "14:00")
    lifecycle.reschedule(clinic.actor("patient"), booking_id, start=new_start)
    _, created = process_last_event(booking_id)
    old = {r.id: r.status for r in rows(booking_id, template="reminder") if r.id in ids}
    assert old == {rid: ("sent" if rid == email_24h.id else "cancelled") for rid in ids}
    fresh_reminders = [r for r in created if r.template == "reminder"]
    assert sorted((r.channel, r.scheduled_for, r.status) for r in fresh_reminders) == sorted(
        (c, new_start - timedelta(minutes=m), "pending") for c in ("email", "sms") for m in (1440, 120))
    assert {r.payload["when_short"] for r in fresh_reminders} == {when_short(new_start)}
    for cancelled_id in ids - {email_24h.id}:  # a cancelled reminder never goes out, even when "due"
        assert send_one(cancelled_id, now=new_start) == "cancelled"
    assert ids & set(due(now=new_start)) == set()

    # cancelled: every pending reminder is cancelled
    lifecycle.cancel(clinic.actor("patient"), booking_id)
    _, created = process_last_event(booking_id)
    assert not [r for r in created if r.template == "reminder"]
    assert {r.status for r in rows(booking_id, template="reminder")} == {"sent", "cancelled"}
    assert not rows(booking_id, template="reminder", status="pending")
    assert {r.id for r in fresh_reminders} & set(due(now=new_start)) == set()
    assert mail.count() == 1


def test_a_reminder_whose_time_has_passed_at_confirmation_is_not_created(app, clinic, mail, monkeypatch):
    # 14 days before a visit 3–9 days ahead is already in the past when it is confirmed.
    monkeypatch.setitem(app.config, "REMINDER_OFFSETS_MINUTES", "20160,1440,120")
    booking_id, start = book_consult(clinic)
    _, created = process_last_event(booking_id)
    reminders = [r for r in created if r.template == "reminder"]
    assert sorted({r.payload["minutes_before"] for r in reminders}) == [120, 1440]
    assert all(r.scheduled_for > utcnow() for r in reminders)
    assert len(reminders) == 4


def test_a_patient_who_turned_reminders_off_gets_none(app, clinic, mail):
    set_profile(PATIENT, reminders_enabled=False)
    booking_id, _ = book_consult(clinic)
    _, created = process_last_event(booking_id)
    assert {r.template for r in created} >= {"confirmed"}  # the confirmation itself still goes out
    assert [r for r in created if r.template == "reminder"] == []


# --- A6. failures: retried with backoff, or failed for good ------------------------------------------

def test_with_smtp_down_a_send_is_retried_with_backoff_then_fails_after_the_last_attempt(
        app, clinic, mail, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())  # nobody listens there
    monkeypatch.setitem(app.config, "NOTIFICATION_MAX_ATTEMPTS", 4)
    booking_id, _ = book_consult(clinic)
    process_last_event(booking_id)
    row_id = rows(booking_id, channel="email", template="confirmed")[0].id
    now = utcnow()
    for attempt, backoff in ((1, 30), (2, 60), (3, 120)):
        assert send_one(row_id, now=now) == "retrying"
        row = rows(booking_id, id=row_id)[0]
        assert (row.status, row.attempts, row.locked_until) == ("pending", attempt, None)
        assert "Connection" in row.error or "refused" in row.error.lower(), row.error
        assert row.scheduled_for == now + timedelta(seconds=backoff)
        assert send_one(row_id, now=now + timedelta(seconds=backoff - 1)) == "not_due"
        assert row_id not in due(now=now + timedelta(seconds=backoff - 1))
        now += timedelta(seconds=backoff)
        assert row_id in due(now=now)
    assert send_one(row_id, now=now) == "failed"
    row = rows(booking_id, id=row_id)[0]
    assert (row.status, row.attempts, row.sent_at) == ("failed", 4, None)
    assert row.error
    assert row_id not in due(now=now + timedelta(days=1))
    assert send_one(row_id, now=now + timedelta(days=1)) == "failed"
    assert mail.count() == 0


def test_a_transient_answer_is_retried_and_goes_out_when_the_server_is_back(app, clinic, mail):
    booking_id, _ = book_consult(clinic)
    process_last_event(booking_id)
    row_id = rows(booking_id, channel="email", template="confirmed")[0].id
    mail.data_reply = "451 4.3.0 Try again later"
    now = utcnow()
    assert send_one(row_id, now=now) == "retrying"
    row = rows(booking_id, id=row_id)[0]
    assert (row.status, row.attempts, row.scheduled_for) == ("pending", 1, now + timedelta(seconds=30))
    assert "451" in row.error
    mail.data_reply = None
    assert send_one(row_id, now=now + timedelta(seconds=30)) == "sent"
    row = rows(booking_id, id=row_id)[0]
    assert (row.status, row.attempts, row.error, row.locked_until) == ("sent", 2, None, None)
    assert [m.to for m in mail.wait_for(1)] == [PATIENT] and mail.refused == 1


@pytest.mark.parametrize("where", ["data", "rcpt"])
def test_a_permanent_answer_fails_at_once_with_the_error_recorded(app, clinic, mail, where):
    booking_id, _ = book_consult(clinic)
    process_last_event(booking_id)
    row_id = rows(booking_id, channel="email", template="confirmed")[0].id
    if where == "data":
        mail.data_reply = "550 5.7.1 Message rejected"
    else:
        mail.rcpt_reply = "550 5.1.1 No such user"
    assert send_one(row_id) == "failed"
    row = rows(booking_id, id=row_id)[0]
    assert (row.status, row.attempts, row.sent_at) == ("failed", 1, None)
    assert "550" in row.error and ("rejected" in row.error if where == "data" else "refused" in row.error)
    assert row_id not in due(now=utcnow() + timedelta(days=1))
    assert mail.count() == 0


def confirmation_emails(clinic, times=("09:00", "10:00", "11:00")) -> list[uuid.UUID]:
    """The confirmation emails of a few bookings: the patient's at `times`, and Olivia's."""
    ids = []
    for hhmm in times:
        booking_id, _ = book_consult(clinic, hhmm)
        process_last_event(booking_id)
        ids += [r.id for r in rows(booking_id, channel="email", template="confirmed")]
    olivia = clinic.actor("olivia")
    booking_id = hold(olivia, provider_id=clinic.chen, appointment_type_id=clinic.consult,
                      start=at(day_ahead(1), "16:00")).booking.id  # Dr. Chen works in New York
    lifecycle.confirm(olivia, booking_id)
    process_last_event(booking_id)
    return ids + [r.id for r in rows(booking_id, channel="email", template="confirmed")]


def test_a_batch_sends_each_message_once_and_retries_only_the_one_the_server_refused(app, clinic, mail):
    ids = confirmation_emails(clinic)
    assert len(ids) == 4
    olivia_row = ids[-1]
    mail.data_reply_for[OLIVIA] = "451 4.3.0 Mailbox busy"
    now = utcnow()
    result = send_batch(ids, now=now)
    assert result == {**{i: "sent" for i in ids[:-1]}, olivia_row: "retrying"} and result.unclaimed == []
    assert Counter(m.message_id.split("@")[0].strip("<") for m in mail.wait_for(3)) == {str(i): 1 for i in ids[:-1]}
    refused = db.session.get(Notification, olivia_row)
    db.session.refresh(refused)
    assert (refused.status, refused.attempts, refused.scheduled_for) == ("pending", 1, now + timedelta(seconds=30))
    assert "451" in refused.error

    mail.data_reply_for.clear()
    assert send_batch(ids, now=now + timedelta(seconds=5)) == {**{i: "sent" for i in ids[:-1]}, olivia_row: "not_due"}
    later = send_batch(list(reversed(ids)), now=now + timedelta(seconds=30))  # the same batch again, and the retry
    assert later == {i: "sent" for i in ids}
    received = Counter(m.message_id.split("@")[0].strip("<") for m in mail.wait_for(4))
    assert received == {str(i): 1 for i in ids}  # every message exactly once; the refused one on its retry
    assert mail.count() == 4 and mail.refused == 1
    assert {r.status for r in db.session.scalars(select(Notification).where(Notification.id.in_(ids))
                                                  .execution_options(populate_existing=True))} == {"sent"}


def test_a_batch_renews_its_leases_and_skips_a_message_another_sender_took_over(app, clinic, mail, monkeypatch):
    """Half a lease gone before a send: the leases still held are renewed first; a row whose lease
    ran out and was claimed by another sender (a new attempt) is left to that sender."""
    ids = confirmation_emails(clinic)
    clock = iter(range(0, 10_000, 70))  # seconds: 70 per reading, with a 120-second lease

    class FakeTime:
        @staticmethod
        def monotonic() -> float:
            return float(next(clock))

    taken_over = ids[2]
    real_deliver = notification_dispatch._deliver

    def deliver(claim, prepared, now):
        if claim.id == ids[0]:  # meanwhile another sender claims ids[2] (its lease ran out)
            with write_transaction():
                db.session.execute(update(Notification).where(Notification.id == taken_over)
                                   .values(attempts=Notification.attempts + 1))
        return real_deliver(claim, prepared, now)

    monkeypatch.setattr(notification_dispatch, "time", FakeTime)
    monkeypatch.setattr(notification_dispatch, "BATCH_SECONDS", 10_000.0)
    monkeypatch.setattr(notification_dispatch, "_deliver", deliver)
    before = utcnow()
    result = send_batch(ids)
    assert result == {ids[0]: "sent", ids[1]: "sent", taken_over: "sending", ids[3]: "sent"}
    sent = Counter(m.message_id.split("@")[0].strip("<") for m in mail.wait_for(3))
    assert sent == {str(i): 1 for i in (ids[0], ids[1], ids[3])} and mail.count() == 3
    row = db.session.get(Notification, taken_over)
    db.session.refresh(row)
    assert (row.status, row.attempts) == ("sending", 2) and row.locked_until > before  # the other sender's lease


def test_a_batch_out_of_time_gives_back_the_leases_it_did_not_use(app, clinic, mail, monkeypatch):
    ids = confirmation_emails(clinic, times=("09:00", "10:00"))
    monkeypatch.setattr(notification_dispatch, "CLAIM_CHUNK", 2)
    monkeypatch.setattr(notification_dispatch, "BATCH_SECONDS", -1.0)  # out of time after the first send
    result = send_batch(ids)
    assert result == {ids[0]: "sent"} and result.unclaimed == ids[1:]
    assert mail.count() == 1
    assert {(r.status, r.attempts, r.locked_until) for r in rows_by_id(ids[1:])} == {("pending", 0, None)}
    assert set(due()) >= set(ids[1:])  # the sweep (or the job that hands them on) sends them later


def test_a_message_that_cannot_be_built_counts_an_attempt_and_the_batch_goes_on(app, clinic, mail, monkeypatch):
    """Messages are built one ahead on a helper thread; a build that fails there (a template
    bug) is reported when its turn comes: that row waits for a retry, the others are sent."""
    ids = confirmation_emails(clinic)
    real_render, broken = notification_dispatch.render, []

    def render(template, channel, language, values):
        if values.get("booking_id") == broken_booking:
            raise KeyError("missing_field")
        return real_render(template, channel, language, values)

    row = db.session.get(Notification, ids[1])
    broken_booking = row.payload.get("booking_id")
    assert broken_booking is not None
    monkeypatch.setattr(notification_dispatch, "render", render)
    result = send_batch(ids)
    others = [i for i in ids if i != ids[1]]
    assert len(others) >= 2 and result == {ids[1]: "retrying", **{i: "sent" for i in others}}
    sent = Counter(m.message_id.split("@")[0].strip("<") for m in mail.wait_for(len(others)))
    assert sent == {str(i): 1 for i in others} and mail.count() == len(others)
    db.session.refresh(row)
    assert (row.status, row.attempts, row.sent_at) == ("pending", 1, None)
    assert "KeyError" in row.error and row.scheduled_for > utcnow()  # backed off, retried later


def rows_by_id(ids) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.id.in_(ids))
                                   .execution_options(populate_existing=True)))


# --- A7. logs ----------------------------------------------------------------------------------------

def _bookwell_handler() -> logging.Handler:
    handlers = [h for h in logging.getLogger().handlers if getattr(h, "_bookwell", False)]
    assert handlers, "the app's masking log handler is not installed on the root logger"
    return handlers[0]


def test_logs_of_sending_and_failing_carry_no_email_address_or_phone_number(app, clinic, mail, caplog):
    phone = patient_phone()
    handler = _bookwell_handler()
    booking_id, _ = book_consult(clinic)
    _, created = process_last_event(booking_id)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert set(send_all(created).values()) == {"sent"}  # "sent ... to <address>" at INFO
        lifecycle.cancel(clinic.actor("patient"), booking_id)
        _, created = process_last_event(booking_id)
        mail.rcpt_reply = "550 5.1.1 No such user"  # the error names the refused address
        statuses = send_all(created)
    assert "failed" in statuses.values()
    records = list(caplog.records)
    assert any("sent" in r.getMessage() for r in records), [r.getMessage() for r in records]
    assert any("failed" in r.getMessage() for r in records), [r.getMessage() for r in records]
    output = []
    for record in records:
        shown = copy.copy(record)
        if handler.filter(shown):
            output.append(handler.format(shown))
    text = "\n".join(output)
    for secret in (PATIENT, WEBER, phone, phone.lstrip("+")):
        assert secret not in text, text
        assert all(secret not in mask_personal_data(r.getMessage()) for r in records)
    assert "p***@riverside.example" in text and "***" + phone[-2:] in text
