"""Booking for a caller at the front desk, and the day overview with a column per provider.

Through the real pages (CSRF tokens and one-time form tokens included): finding the
patient by exact email or part of the name, adding one (field errors at the field, 422,
nothing written), the list of every open time (never the patients' sample), booking in
one POST (confirmed, source "staff", audit trail), a taken time, a double submit, the
day overview and its check-in, and who may open any of it.

Demo facts used (app/demo_seed.py, see also test_staff_pages.py): Berlin Mitte has
Dr. Anna Weber (General consultation, Monday–Friday 08:00–16:00, break 12:00–13:00)
and Jonas Fischer (Physiotherapy session, which needs approval; Monday 09:00–17:00;
the seed gives him two confirmed group-class places next Thursday 17:00). New York
Midtown has Dr. Maya Chen and Sam Rivera. Paula Patient is patient@riverside.example.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app import crypto
from app.accounts import authenticate, find_user_by_email
from app.availability import reads
from app.database import write_transaction
from app.extensions import db
from app.models import AppointmentType, AvailabilitySlot, Booking, BookingEvent, Organization, Provider, User, utcnow
from app.passwords import hash_password
from tests.integration.booking_helpers import at, day_ahead, events_of, fresh
from tests.integration.helpers import field_error, page_text
from tests.integration.test_staff_pages import (  # noqa: F401  (demo is a fixture)
    BERLIN,
    DOMAIN,
    as_user,
    demo,
    flashes,
    follow,
    form_fields,
    has_form,
    make_booking,
    visit_in_half_an_hour,
)

PAULA = f"patient@{DOMAIN}"
CONFIRM = "/frontdesk/book/confirm"
ADD = "/frontdesk/book/patient"


def user_id(app, email: str) -> uuid.UUID:
    with app.app_context():
        return find_user_by_email(email).id


def counts(app) -> tuple[int, int, int]:
    """(users, bookings, booking events): a refusal must leave all three alone."""
    with app.app_context():
        db.session.rollback()
        return tuple(db.session.scalar(select(func.count()).select_from(model))
                     for model in (User, Booking, BookingEvent))


def result_patient_ids(body: str) -> list[uuid.UUID]:
    return [uuid.UUID(m) for m in re.findall(r'href="/frontdesk/book/times\?patient=([0-9a-f-]{36})"', body)]


def slot_starts(body: str) -> list[datetime]:
    """The starts of the time buttons on the times page (links to the confirm step)."""
    return [datetime.fromisoformat(s) for s in re.findall(r'<a class="slot" data-start="([^"]+)"', body)]


def confirm_links(body: str) -> list[str]:
    return [html_unescape(href) for href in re.findall(r'<a class="slot"[^>]*href="([^"]+)"', body, re.DOTALL)]


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


def times_url(patient_id, type_id, location_id, provider_id, day) -> str:
    return "/frontdesk/book/times?" + urlencode({
        "patient": patient_id, "appointment_type_id": type_id, "location_id": location_id,
        "provider_id": provider_id or "", "date": day.isoformat()})


def confirm_url(patient_id, type_id, location_id, provider_id, start: datetime) -> str:
    return CONFIRM + "?" + urlencode({
        "patient": patient_id, "appointment_type_id": type_id, "location_id": location_id,
        "provider_id": provider_id, "start": start.isoformat()})


def follow_get(client, response):
    return client.get(response.headers["Location"])


def book_form(client, url: str) -> dict[str, str]:
    """The fields of the confirm step's form, as the browser would send them."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return form_fields(page.get_data(as_text=True), CONFIRM)


def bookings_at(app, provider_id, start) -> list[Booking]:
    with app.app_context():
        db.session.rollback()
        return list(db.session.scalars(select(Booking).where(Booking.provider_id == provider_id,
                                                             Booking.start_at == start)))


def add_patient_form(client, **fields) -> dict[str, str]:
    page = client.get("/frontdesk/book")
    data = form_fields(page.get_data(as_text=True), ADD)
    data.update({"full_name": "Nina Neu", "email": "", "phone": "", "timezone": BERLIN, **fields})
    return data


# --- 1. finding the patient ---------------------------------------------------------------------

@pytest.fixture
def other_clinic_patient(app, demo) -> uuid.UUID:
    """A patient of another organization, also called Paula: never offered to this front desk."""
    with app.app_context():
        with write_transaction():
            org = Organization(name="Elsewhere Clinic", slug="elsewhere")
            db.session.add(org)
            db.session.flush()
            stranger = User(organization_id=org.id, email="paula.else@example.com",
                            email_index=crypto.email_index("paula.else@example.com"),
                            password_hash=hash_password("not-used-anywhere"), role="patient",
                            full_name="Paula Elsewhere")
            db.session.add(stranger)
        return stranger.id


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (PAULA, ["patient"]),  # the exact email, through the blind index
        ("  PATIENT@riverside.example ", ["patient"]),  # emails are case- and space-insensitive
        ("paula", ["patient"]),  # part of the name, any case
        ("Park", ["olivia"]),  # Olivia Park
        ("a", ["olivia", "patient"]),  # both names contain an "a": sorted by name
        ("patient@riverside", []),  # a partial email is not a search by email
        ("Frankie", []),  # staff (Frankie Desk) are not patients
        ("%", []),  # LIKE wildcards are taken literally
    ],
)
def test_finding_a_patient_by_exact_email_or_part_of_the_name(app, client, demo, other_clinic_patient, query,
                                                              expected):
    as_user(app, client, "frontdesk")

    page = client.get("/frontdesk/book?" + urlencode({"q": query}))

    assert page.status_code == 200
    found = result_patient_ids(page.get_data(as_text=True))
    assert found == [user_id(app, f"{key}@{DOMAIN}") for key in expected]
    assert other_clinic_patient not in found
    if not expected:
        assert "No patient matches" in page_text(page)


def test_another_organizations_patient_cannot_be_booked_for(app, client, demo, other_clinic_patient):
    as_user(app, client, "frontdesk")

    found = result_patient_ids(client.get("/frontdesk/book?q=Paula").get_data(as_text=True))
    by_url = client.get(f"/frontdesk/book/times?patient={other_clinic_patient}")

    assert found == [user_id(app, PAULA)]
    assert by_url.status_code == 302 and urlsplit(by_url.headers["Location"]).path == "/frontdesk/book"


# --- 2. adding a patient ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "nina-at-example"}, "email", "This does not look like an email address."),  # no @
        ({"phone": "call me"}, "phone", "This does not look like a phone number."),  # no digits at all
        ({"phone": "+49 30 12"}, "phone", "This phone number is not valid"),  # parses, but no such number
        ({}, "email", "Give an email address or a phone number"),  # no way to reach them
        ({"full_name": "  ", "email": "nina@example.com"}, "full_name", "Give the caller's name."),
        ({"email": PAULA}, "email", "A patient with this email already exists"),  # Paula: book for her instead
    ],
)
def test_adding_a_patient_with_bad_fields_explains_at_the_field_and_writes_nothing(app, client, demo, fields, field,
                                                                                   message):
    as_user(app, client, "frontdesk")
    data = add_patient_form(client, **fields)
    before = counts(app)

    answer = client.post(ADD, data=data)

    assert answer.status_code == 422
    assert message in (field_error(answer, field) or "")
    assert counts(app) == before
    if field == "email" and fields.get("email") == PAULA:  # the existing patient is offered right there
        assert result_patient_ids(answer.get_data(as_text=True)) == [user_id(app, PAULA)]


def test_adding_a_patient_with_an_email_creates_an_account_without_a_usable_password(app, client, demo):
    as_user(app, client, "frontdesk")
    data = add_patient_form(client, full_name=" Nina  Neu ", email="Nina.Neu@Example.com", phone="+49 30 1234567")

    answer = client.post(ADD, data=data)
    again = client.post(ADD, data=data)  # a double click

    with app.app_context():
        nina = find_user_by_email("nina.neu@example.com")
        assert nina is not None and nina.organization_id == demo.organization_id and nina.role == "patient"
        assert nina.full_name == "Nina Neu" and nina.email == "nina.neu@example.com"
        assert nina.patient_profile.phone == "+49301234567" and nina.patient_profile.timezone == BERLIN
        assert authenticate("nina.neu@example.com", "") is None  # nobody knows its password
        assert db.session.scalar(select(func.count()).select_from(User).where(User.full_name == "Nina Neu")) == 1
    assert answer.status_code == 303
    target = urlsplit(answer.headers["Location"])
    assert target.path == "/frontdesk/book/times" and parse_qs(target.query) == {"patient": [str(nina.id)]}
    assert again.headers["Location"] == answer.headers["Location"]
    page = follow(client, answer)
    assert "Nina Neu" in page_text(page) and ("success", "Added Nina Neu as a patient; we emailed them a link to choose a password. "
                                                                  "Now pick a time.") in \
        flashes(page)


def test_a_caller_with_only_a_phone_is_booked_as_a_guest_with_their_details(app, client, demo):
    as_user(app, client, "frontdesk")
    users_before = counts(app)[0]
    monday = day_ahead(1)

    answer = client.post(ADD, data=add_patient_form(client, full_name="Gustav Gast", phone="+49 151 23456789"))
    page = follow(client, answer)
    caller = parse_qs(urlsplit(answer.headers["Location"]).query)["caller"][0]
    times = client.get("/frontdesk/book/times?" + urlencode({
        "caller": caller, "appointment_type_id": demo.consult, "location_id": demo.berlin_id,
        "provider_id": demo.weber, "date": monday.isoformat()}))
    link = confirm_links(times.get_data(as_text=True))[0]
    booked = client.post(CONFIRM, data=book_form(client, link))

    assert counts(app)[0] == users_before  # no account without an email
    with client.session_transaction() as session:  # the steps between keep the details encrypted
        kept = repr(session["frontdesk_callers"])
        assert "23456789" not in kept and "Gustav" not in kept
    assert "Gustav Gast" in page_text(page)
    start = datetime.fromisoformat(parse_qs(urlsplit(link).query)["start"][0])
    [booking] = bookings_at(app, demo.weber, start)
    assert booked.status_code == 303
    assert (booking.patient_id, booking.guest_name, booking.guest_phone, booking.status, booking.source) == \
        (None, "Gustav Gast", "+4915123456789", "confirmed", "staff")


@pytest.mark.parametrize(("typed", "stored"), [
    ("0151 23456789", "+4915123456789"),  # a German mobile as the Berlin desk says it (the clinic's US default fails)
    ("(212) 555-0147", "+12125550147"),  # a New York number, read in the clinic's own region first
])
def test_a_callers_national_number_is_read_in_the_clinics_countries(app, client, demo, typed, stored):
    as_user(app, client, "frontdesk")
    answer = client.post(ADD, data=add_patient_form(client, full_name="Nina National", phone=typed))
    assert answer.status_code == 303, page_text(answer)[:500]
    caller = parse_qs(urlsplit(answer.headers["Location"]).query)["caller"][0]
    times = client.get("/frontdesk/book/times?" + urlencode({
        "caller": caller, "appointment_type_id": demo.consult, "location_id": demo.berlin_id,
        "provider_id": demo.weber, "date": day_ahead(2).isoformat()}))
    link = confirm_links(times.get_data(as_text=True))[0]
    assert client.post(CONFIRM, data=book_form(client, link)).status_code == 303
    start = datetime.fromisoformat(parse_qs(urlsplit(link).query)["start"][0])
    [booking] = bookings_at(app, demo.weber, start)
    assert (booking.guest_name, booking.guest_phone) == ("Nina National", stored)


def test_a_clinician_who_does_not_work_at_the_chosen_location_is_named_when_dropped(app, client, demo):
    paula = user_id(app, PAULA)
    as_user(app, client, "frontdesk")
    page = page_text(client.get(times_url(paula, demo.consult, demo.nyc_id, demo.weber, day_ahead(1))))
    note = re.search(r'id="dropped-provider">([^<]*)<', page).group(1)
    assert "Dr. Anna Weber does not offer General consultation at New York Midtown" in note
    assert 'id="dropped-provider"' not in page_text(client.get(
        times_url(paula, demo.consult, demo.berlin_id, demo.weber, day_ahead(1))))


# --- 3. every open time -------------------------------------------------------------------------

def test_the_front_desk_sees_every_open_slot_not_the_patients_sample(app, client, demo):
    monday = day_ahead(1)
    paula = user_id(app, PAULA)
    as_user(app, client, "frontdesk")

    page = client.get(times_url(paula, demo.consult, demo.berlin_id, demo.weber, monday))

    with app.app_context():
        zone = ZoneInfo(BERLIN)
        first = datetime.combine(monday, datetime.min.time(), tzinfo=zone)
        kind = db.session.get(AppointmentType, demo.consult)
        earliest = max(first, utcnow() + timedelta(minutes=kind.min_notice_minutes))
        table = sorted(db.session.scalars(select(AvailabilitySlot.start_at).where(
            AvailabilitySlot.provider_id == demo.weber, AvailabilitySlot.appointment_type_id == demo.consult,
            AvailabilitySlot.location_id == demo.berlin_id, AvailabilitySlot.status.in_(("open", "partial")),
            AvailabilitySlot.start_at >= earliest, AvailabilitySlot.start_at < first + timedelta(days=1))))
        engine = [s.start for s in reads.open_slots(kind, [db.session.get(Provider, demo.weber)], monday, monday,
                                                    zone, demo.berlin_id)]
    shown = slot_starts(page.get_data(as_text=True))
    assert page.status_code == 200
    assert shown == table == engine
    assert len(shown) > 5  # a patient asking for one provider sees 1-3 of these
    assert f"All {len(shown)} open times" in page_text(page) and "Europe/Berlin" in page_text(page)
    assert "08:00" in page_text(page)  # Weber's first time, Berlin wall clock

    as_user(app, client, "patient")  # the same question from the portal: a sample
    portal = client.get("/book?" + urlencode({"appointment_type_id": demo.consult, "location_id": demo.berlin_id,
                                              "provider_id": demo.weber, "date": monday.isoformat()}))
    assert 1 <= portal.get_data(as_text=True).count('class="slot"') <= 3


def test_any_clinician_lists_the_times_of_everyone_offering_the_visit_at_the_location(app, client, demo):
    monday = day_ahead(1)
    as_user(app, client, "frontdesk")

    page = client.get(times_url(user_id(app, PAULA), demo.consult, demo.nyc_id, None, monday))

    body = page_text(page)
    assert "America/New_York" in body and "Dr. Maya Chen" in body and "Dr. Anna Weber" not in body
    providers = {parse_qs(urlsplit(link).query)["provider_id"][0] for link in confirm_links(body)}
    assert providers == {str(demo.chen)}  # of the consultation's providers, only Chen works in New York


# --- 4. booking ---------------------------------------------------------------------------------

def test_booking_a_time_confirms_it_for_the_patient_with_source_staff_and_an_audit_trail(app, client, demo):
    monday = day_ahead(1)
    paula = user_id(app, PAULA)
    start = at(monday, "09:30")
    as_user(app, client, "frontdesk")
    frontdesk = user_id(app, f"frontdesk@{DOMAIN}")

    answer = client.post(CONFIRM, data={**book_form(client, confirm_url(paula, demo.consult, demo.berlin_id,
                                                                        demo.weber, start)),
                                        "notes": "Asked for a morning visit"})

    [booking] = bookings_at(app, demo.weber, start)
    assert (booking.patient_id, booking.status, booking.source, booking.location_id, booking.appointment_type_id) == \
        (paula, "confirmed", "staff", demo.berlin_id, demo.consult)
    assert booking.notes == "Asked for a morning visit" and booking.confirmed_at is not None
    with app.app_context():
        trail = [(e.action, e.actor_id, e.actor_role, e.to_status) for e in events_of(booking.id)]
    assert trail == [("held", frontdesk, "frontdesk", "held"), ("confirmed", frontdesk, "frontdesk", "confirmed")]
    target = urlsplit(answer.headers["Location"])
    assert target.path == "/frontdesk/day" and target.fragment == f"booking-{booking.id}"
    assert parse_qs(target.query) == {"date": [monday.isoformat()], "location": [str(demo.berlin_id)]}
    page = follow(client, answer)
    [(kind, message)] = flashes(page)
    assert kind == "success"
    assert all(part in message for part in ("Paula Patient", "Dr. Anna Weber", "09:30", "Europe/Berlin"))
    assert f'id="booking-{booking.id}"' in page.get_data(as_text=True)


def test_a_type_needing_approval_booked_by_staff_ends_confirmed_and_the_trail_says_who_decided(app, client, demo):
    monday = day_ahead(1)
    as_user(app, client, "frontdesk")
    times = client.get(times_url(user_id(app, PAULA), demo.physio, demo.berlin_id, demo.fischer, monday))
    link = confirm_links(times.get_data(as_text=True))[0]
    start = datetime.fromisoformat(parse_qs(urlsplit(link).query)["start"][0])

    client.post(CONFIRM, data=book_form(client, link))

    [booking] = bookings_at(app, demo.fischer, start)
    assert booking.status == "confirmed" and booking.source == "staff"
    with app.app_context():
        trail = [(e.action, e.actor_role, e.from_status, e.to_status) for e in events_of(booking.id)]
    assert trail == [("held", "frontdesk", None, "held"), ("confirmed", "frontdesk", "held", "pending"),
                     ("accepted", "frontdesk", "pending", "confirmed")]

    # Paula hears that her visit is confirmed, not that a request is waiting; nobody gets "new request"
    from app.models import Notification
    from app.notifications.dispatch import create_for_event

    with app.app_context():
        for event in events_of(booking.id):
            create_for_event(event.id)
        templates = sorted({n.template for n in db.session.scalars(
            select(Notification).where(Notification.booking_id == booking.id, Notification.scheduled_for.is_(None)))})
    assert templates == ["accepted"]


def test_a_taken_time_says_so_lets_them_pick_again_and_writes_nothing(app, client, demo):
    monday = day_ahead(1)
    paula = user_id(app, PAULA)
    start = at(monday, "11:00")
    as_user(app, client, "frontdesk")
    form = book_form(client, confirm_url(paula, demo.consult, demo.berlin_id, demo.weber, start))
    make_booking(app, organization_id=demo.organization_id, provider_id=demo.weber, type_id=demo.consult,
                 location_id=demo.berlin_id, start=start, status="confirmed", guest_name="Quick Caller")
    before = counts(app)

    answer = client.post(CONFIRM, data=form)

    assert counts(app) == before
    assert [b.guest_name for b in bookings_at(app, demo.weber, start)] == ["Quick Caller"]
    target = urlsplit(answer.headers["Location"])
    assert target.path == "/frontdesk/book/times"
    assert parse_qs(target.query)["date"] == [monday.isoformat()]
    page = follow(client, answer)
    [(kind, message)] = flashes(page)
    assert kind == "warning" and "11:00 with Dr. Anna Weber was just taken" in message
    assert "Nothing was booked" in message
    assert start not in slot_starts(page.get_data(as_text=True))  # and the list no longer offers it


def test_a_patient_already_booked_at_that_time_is_refused_with_the_clash_named(app, client, demo):
    monday = day_ahead(1)
    paula = user_id(app, PAULA)
    as_user(app, client, "frontdesk")
    follow(client, client.post(CONFIRM, data=book_form(client, confirm_url(
        paula, demo.consult, demo.berlin_id, demo.weber, at(monday, "09:00")))))
    physio = book_form(client, confirm_url(paula, demo.physio, demo.berlin_id, demo.fischer, at(monday, "09:00")))
    before = counts(app)

    answer = client.post(CONFIRM, data=physio)

    assert counts(app) == before
    [(kind, message)] = flashes(follow(client, answer))
    assert kind == "warning"
    assert message == ("Paula Patient already has General consultation with Dr. Anna Weber at 09:00 that day. "
                       "Nothing was booked.")


def test_a_double_submit_of_one_form_books_once(app, client, demo):
    monday = day_ahead(1)
    start = at(monday, "14:00")
    as_user(app, client, "frontdesk")
    form = book_form(client, confirm_url(user_id(app, PAULA), demo.consult, demo.berlin_id, demo.weber, start))

    first = client.post(CONFIRM, data=form)
    booked = follow(client, first)
    second = client.post(CONFIRM, data=form)

    assert len(bookings_at(app, demo.weber, start)) == 1
    assert first.status_code == second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]  # the first answer, replayed
    assert [kind for kind, _ in flashes(booked)] == ["success"]
    assert flashes(follow(client, second)) == []  # and no second "Booked", nor a "taken" warning


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(minutes=7)])  # taken meanwhile; never on the grid
def test_a_time_that_is_not_open_at_the_confirm_step_sends_back_to_the_list(app, client, demo, offset):
    monday = day_ahead(1)
    start = at(monday, "15:00")
    make_booking(app, organization_id=demo.organization_id, provider_id=demo.weber, type_id=demo.consult,
                 location_id=demo.berlin_id, start=start, status="confirmed")
    as_user(app, client, "frontdesk")

    page = client.get(confirm_url(user_id(app, PAULA), demo.consult, demo.berlin_id, demo.weber, start + offset))

    assert page.status_code == 302 and urlsplit(page.headers["Location"]).path == "/frontdesk/book/times"
    listed = follow_get(client, page)
    assert ("warning", "That time is no longer free. Here are the times still open.") in flashes(listed)
    assert not has_form(listed.get_data(as_text=True), CONFIRM)
    assert start not in slot_starts(listed.get_data(as_text=True))


@pytest.mark.parametrize(
    "bad",
    [
        {"start": "tomorrow at nine"},  # not a time
        {"start": "2030-01-07T09:00:00"},  # no offset: ambiguous
        {"provider_id": "not-a-uuid"},
        {"appointment_type_id": str(uuid.uuid4())},  # no such type
    ],
)
def test_a_malformed_booking_post_is_a_400_and_writes_nothing(app, client, demo, bad):
    monday = day_ahead(1)
    as_user(app, client, "frontdesk")
    form = book_form(client, confirm_url(user_id(app, PAULA), demo.consult, demo.berlin_id, demo.weber,
                                         at(monday, "09:00")))
    before = counts(app)

    answer = client.post(CONFIRM, data={**form, **bad})

    assert answer.status_code == 400
    assert counts(app) == before


def test_notes_too_long_are_a_field_error_and_book_nothing(app, client, demo):
    monday = day_ahead(1)
    as_user(app, client, "frontdesk")
    form = book_form(client, confirm_url(user_id(app, PAULA), demo.consult, demo.berlin_id, demo.weber,
                                         at(monday, "09:00")))
    before = counts(app)

    answer = client.post(CONFIRM, data={**form, "notes": "x" * 2001})

    assert answer.status_code == 422 and "2000" in (field_error(answer, "notes") or "")
    assert counts(app) == before


# --- 5. the day overview ------------------------------------------------------------------------

def columns(body: str) -> dict[str, str]:
    """Column title -> the column's HTML."""
    parts = re.split(r'<section class="card day-column"', body)[1:]
    return {re.search(r'<h3 id="column-title-[^"]*">([^<]*)</h3>', part).group(1): part for part in parts}


def entries(column: str) -> list[tuple[str, str, str]]:
    """(time, badge, name or title) of a column's rows."""
    rows = []
    for inner in re.findall(r'<li class="agenda-item day-entry[^"]*"[^>]*>(.*?)</li>', column, re.DOTALL):
        name = re.search(r'<strong class="who">([^<]*)</strong>|<span class="what">([^<]*)</span>', inner)
        rows.append((re.search(r'<span class="time">([^<]*)</span>', inner).group(1),
                     html_unescape(re.search(r'<span class="badge[^"]*">([^<]*)</span>', inner).group(1)),
                     html_unescape(name.group(1) or name.group(2))))
    return rows


def test_the_day_overview_has_a_column_per_provider_of_the_location_with_their_bookings(app, client, demo):
    thursday = day_ahead(4, min_days=1)  # the seeded group class (next Thursday 17:00, Fischer)
    as_user(app, client, "frontdesk")

    berlin = client.get(f"/frontdesk/day?date={thursday.isoformat()}&location={demo.berlin_id}&layout=list")
    nyc = client.get(f"/frontdesk/day?date={thursday.isoformat()}&location={demo.nyc_id}&layout=list")

    body = berlin.get_data(as_text=True)
    assert berlin.status_code == 200
    cols = columns(body)
    assert list(cols) == ["Dr. Anna Weber", "Jonas Fischer"]
    assert sorted(entries(cols["Jonas Fischer"])) == [("17:00–18:00", "Confirmed", "Lena Braun"),
                                                      ("17:00–18:00", "Confirmed", "Paula Patient")]
    assert entries(cols["Dr. Anna Weber"]) == []
    assert list(columns(nyc.get_data(as_text=True))) == ["Dr. Maya Chen", "Sam Rivera"]
    live = re.search(r'id="day-overview" data-live-channels="([^"]*)"', body).group(1).split(",")
    assert live == [f"location:{demo.berlin_id}", f"provider:{demo.weber}", f"provider:{demo.fischer}"]
    assert f"date={(thursday - timedelta(days=1)).isoformat()}" in body  # previous day
    assert f"date={(thursday + timedelta(days=1)).isoformat()}" in body  # next day


def test_the_day_overview_shows_pending_requests_blocked_time_and_a_staff_booking(app, client, demo):
    wednesday = day_ahead(3, min_days=1)  # Paula's physio request, next Wednesday 10:00 (pending)
    with app.app_context():
        from app.models import AvailabilityException

        with write_transaction():
            db.session.add(AvailabilityException(
                organization_id=demo.organization_id, provider_id=demo.weber, status="blocked",
                start_at=at(wednesday, "14:00"), end_at=at(wednesday, "15:00"), reason="Team meeting"))
    as_user(app, client, "frontdesk")

    cols = columns(client.get(f"/frontdesk/day?date={wednesday.isoformat()}&location={demo.berlin_id}&layout=list")
                   .get_data(as_text=True))

    assert ("10:00–10:45", "Awaiting approval", "Paula Patient") in entries(cols["Jonas Fischer"])
    assert entries(cols["Dr. Anna Weber"]) == [("14:00–15:00", "Blocked", "Team meeting")]


def test_check_in_from_the_day_overview_comes_back_to_it(app, client, demo):
    booking_id, tz = visit_in_half_an_hour(app, demo)
    location = demo.berlin_id if tz == BERLIN else demo.nyc_id
    as_user(app, client, "frontdesk")
    day_url = f"/frontdesk/day?location={location}"
    body = client.get(day_url).get_data(as_text=True)
    url = f"/frontdesk/bookings/{booking_id}/check_in"

    answer = client.post(url, data=form_fields(body, url))

    with app.app_context():
        assert fresh(booking_id).checked_in_at is not None
    target = urlsplit(answer.headers["Location"])
    assert target.path == "/frontdesk/day" and parse_qs(target.query)["location"] == [str(location)]
    page = follow(client, answer)
    assert ("success", "Checked in.") in flashes(page)
    assert not has_form(page.get_data(as_text=True), url)


def test_a_check_in_sent_back_outside_the_site_lands_on_the_front_desk(app, client, demo):
    booking_id, _ = visit_in_half_an_hour(app, demo)
    as_user(app, client, "frontdesk")
    url = f"/frontdesk/bookings/{booking_id}/check_in"
    fields = form_fields(client.get("/frontdesk/").get_data(as_text=True), url)

    answer = client.post(url, data={**fields, "back": "//evil.example/day"})

    assert answer.status_code == 303 and answer.headers["Location"] == "/frontdesk/"


def test_the_front_desk_home_links_to_booking_and_the_day_overview(app, client, demo):
    as_user(app, client, "frontdesk")

    body = client.get("/frontdesk/").get_data(as_text=True)

    assert 'href="/frontdesk/book"' in body and 'href="/frontdesk/day"' in body
    assert f'href="/frontdesk/day?location={demo.berlin_id}"' in body


# --- 6. who may ---------------------------------------------------------------------------------

PAGES = ["/frontdesk/book", "/frontdesk/book?q=paula", "/frontdesk/book/times", "/frontdesk/book/confirm",
         "/frontdesk/day"]


@pytest.mark.parametrize("role", ["patient", "weber"])
@pytest.mark.parametrize("url", PAGES)
def test_patients_and_providers_may_not_open_the_booking_pages(app, client, demo, role, url):
    as_user(app, client, role)

    assert client.get(url).status_code == 403


@pytest.mark.parametrize("role", ["patient", "weber"])
@pytest.mark.parametrize("url", [ADD, CONFIRM])
def test_patients_and_providers_may_not_post_to_them(app, client, demo, role, url):
    as_user(app, client, "frontdesk")
    token = form_fields(client.get("/frontdesk/book").get_data(as_text=True), ADD)["csrf_token"]
    as_user(app, client, role)
    before = counts(app)

    answer = client.post(url, data={"csrf_token": token, "full_name": "Sneaky", "email": "sneaky@example.com",
                                    "timezone": BERLIN})

    assert answer.status_code == 403
    assert counts(app) == before


@pytest.mark.parametrize("role", ["frontdesk", "manager", "admin"])
def test_front_desk_managers_and_admins_may_book(app, client, demo, role):
    as_user(app, client, role)

    assert client.get("/frontdesk/book").status_code == 200
    assert client.get("/frontdesk/day").status_code == 200


def test_strangers_are_sent_to_sign_in(app, client, demo):
    answer = client.get("/frontdesk/book")

    assert answer.status_code == 302 and urlsplit(answer.headers["Location"]).path == "/auth/login"
