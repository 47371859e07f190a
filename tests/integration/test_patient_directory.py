"""The patient directory (issue 12, item 4): one search over name, email and phone --
whole or partial numbers, through the keyed blind indexes, since numbers are encrypted --
patients and guests (grouped by contact), the patient and guest pages with full contact
details for the staff who serve them, and turning a guest into a patient record without
a duplicate.

Demo facts (app/demo_seed.py): the Berlin location's phone is German, so numbers typed
without a country code are read as German as well as American (DEFAULT_PHONE_REGION);
Paula Patient's phone is +49 151 12345678; Lena Braun is a guest with an email only.
"""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select, text

from app.accounts import find_user_by_email
from app.database import write_transaction
from app.demo_seed import DOMAIN
from app.extensions import db
from app.models import Booking, PatientProfile, PhoneLookupToken, User
from app.patients.guest_records import convert_guest
from app.queries import patients as directory
from tests.integration.booking_helpers import events_of, load_clinic
from tests.integration.helpers import csrf_token, page_text, seed_demo_clinic, sign_in_as
from tests.integration.test_staff_pages import flashes, follow, make_booking

GUEST_PHONE = "+493055512345"  # +49 30 555 12345


@pytest.fixture
def clinic(app, db_session, monkeypatch):
    seed_demo_clinic(app, monkeypatch)
    with app.app_context():
        return load_clinic()


@pytest.fixture
def phone_guest(app, clinic):
    """Two bookings of one guest who gave only a phone number (the front desk took the call)."""
    from datetime import timedelta

    from app.models import utcnow

    ids = []
    for days in (3, 10):
        booking_id = make_booking(app, organization_id=clinic.organization_id, provider_id=clinic.weber,
                                  type_id=clinic.consult, location_id=clinic.berlin_id,
                                  start=utcnow() + timedelta(days=days), status="confirmed", guest_name="Karl Kaller")
        with app.app_context(), write_transaction():
            row = db.session.get(Booking, booking_id)
            row.guest_email, row.guest_phone = None, GUEST_PHONE
        ids.append(booking_id)
    return ids


def names(found) -> list[tuple[str, str]]:
    return [(e.kind, e.name) for e in found]


@pytest.mark.parametrize(("typed", "found"), [
    ("030 555 12345", ("guest", "Karl Kaller")),  # national, with the trunk 0
    ("030 5551", ("guest", "Karl Kaller")),  # the start of it
    ("+49 30 555 12345", ("guest", "Karl Kaller")),  # international, spaced
    ("+49 (0)30 555 12345", ("guest", "Karl Kaller")),  # international with the bracketed trunk zero
    ("+49 (0) 151 1234", ("patient", "Paula Patient")),  # the same, the start of a mobile
    ("0049 30 5551234", ("guest", "Karl Kaller")),  # the 00 call prefix, nearly all of it
    ("12345", ("guest", "Karl Kaller")),  # the last digits
    ("0151 1234", ("patient", "Paula Patient")),  # Paula's mobile, its start
    ("+4915112345678", ("patient", "Paula Patient")),  # exactly as stored
    ("45678", ("patient", "Paula Patient")),  # its last digits
    ("paula", ("patient", "Paula Patient")),  # part of a name, any case
    ("PATIENT@riverside.example", ("patient", "Paula Patient")),  # a whole email, any case
    ("Kaller", ("guest", "Karl Kaller")),
    ("lena@example.com", ("guest", "Lena Braun")),  # a guest by email
])
def test_the_search_finds_people_by_name_email_and_whole_or_partial_phone(app, clinic, phone_guest, typed, found):
    with app.app_context():
        assert found in names(directory.search(clinic.organization_id, typed))


@pytest.mark.parametrize("typed", ["030 9999", "+1 212 555 9999", "99999", "nobody", "x@example.com", "7"])
def test_the_search_shows_nobody_for_numbers_and_names_that_match_no_one(app, clinic, phone_guest, typed):
    with app.app_context():
        assert directory.search(clinic.organization_id, typed) == []


def test_a_shared_prefix_never_shows_another_number(app, clinic, phone_guest):
    """Keys only narrow the search: each candidate is checked against its decrypted number."""
    with app.app_context():
        found = directory.search(clinic.organization_id, "030 555 12399")
    assert found == []


def test_a_guests_bookings_are_one_entry(app, clinic, phone_guest):
    with app.app_context():
        entry = next(e for e in directory.search(clinic.organization_id, "Karl") if e.kind == "guest")
    assert sorted(entry.booking_ids) == sorted(phone_guest) and entry.visits == 2 and entry.phone == GUEST_PHONE


def test_no_phone_is_stored_in_clear_in_the_indexes(app, clinic, phone_guest, db_session):
    raw = db_session.execute(text("SELECT guest_phone_index FROM bookings WHERE guest_phone_index IS NOT NULL")).all()
    tokens = db_session.execute(text("SELECT token FROM phone_lookup_tokens")).scalars().all()
    assert raw and tokens
    digits = GUEST_PHONE.lstrip("+")
    for value in [r[0] for r in raw] + tokens:
        assert len(value) == 64 and digits not in value and digits[-5:] not in value  # digests, never digits
    assert all(len(t) == 64 for t in tokens)


def test_changing_a_phone_moves_its_index(app, clinic):
    with app.app_context():
        paula = find_user_by_email(f"patient@{DOMAIN}")
        with write_transaction():
            db.session.get(PatientProfile, paula.patient_profile.id).phone = "+4917699887766"
        assert names(directory.search(clinic.organization_id, "0176 9988")) == [("patient", "Paula Patient")]
        assert directory.search(clinic.organization_id, "0151 1234") == []
        with write_transaction():
            db.session.get(PatientProfile, paula.patient_profile.id).phone = None
        assert db.session.scalar(select(func.count()).select_from(PhoneLookupToken).where(
            PhoneLookupToken.patient_profile_id == paula.patient_profile.id)) == 0


# --- pages ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["frontdesk", "manager", "admin"])
def test_the_directory_page_searches_by_phone_and_shows_full_contact_details(app, client, clinic, phone_guest, role):
    sign_in_as(client, find_user_by_email(f"{role}@{DOMAIN}"))
    full = page_text(client.get("/frontdesk/patients?q=030+5551"))
    assert "Karl Kaller" in full and GUEST_PHONE in full  # the whole number, to call back
    partial = client.get("/frontdesk/patients?q=0151+1234", headers={"HX-Request": "true",
                                                                    "HX-Target": "directory-results"})
    body = page_text(partial)
    assert "<html" not in body and "Paula Patient" in body and "+4915112345678" in body
    assert f"patient@{DOMAIN}" in body


def test_providers_and_patients_have_no_directory(app, client, clinic):
    for role, status in (("weber", 403), ("patient", 403)):
        sign_in_as(client, find_user_by_email(f"{role}@{DOMAIN}"))
        assert client.get("/frontdesk/patients?q=paula").status_code == status


def test_the_patient_page_shows_contact_preferences_and_visits_with_actions(app, client, clinic):
    paula = find_user_by_email(f"patient@{DOMAIN}")
    sign_in_as(client, find_user_by_email(f"frontdesk@{DOMAIN}"))
    body = page_text(client.get(f"/frontdesk/patients/{paula.id}"))
    assert "+4915112345678" in body and f"patient@{DOMAIN}" in body
    assert "Europe/Berlin" in body and "text (SMS)" in body  # preferences
    upcoming = body[body.index('id="upcoming"'):body.index('id="past"')]
    assert "General consultation" in upcoming and "/reschedule?back=" in upcoming and "/cancel?back=" in upcoming
    assert "Completed" in body[body.index('id="past"'):]
    assert f"/frontdesk/book/times?patient={paula.id}" in body
    olivia = find_user_by_email(f"olivia@{DOMAIN}")  # a user id of someone else's kind is 404
    assert client.get(f"/frontdesk/patients/{find_user_by_email(f'weber@{DOMAIN}').id}").status_code == 404
    assert client.get(f"/frontdesk/patients/{olivia.id}").status_code == 200


def test_contact_details_on_pages_never_reach_the_logs(app, client, clinic, phone_guest, caplog):
    sign_in_as(client, find_user_by_email(f"frontdesk@{DOMAIN}"))
    with caplog.at_level(logging.DEBUG):
        client.get("/frontdesk/patients?q=%2B49+30+555+12345")
        client.get(f"/frontdesk/patients/guest/{phone_guest[0]}")
    from app.ops.logging_setup import mask_personal_data

    assert all(GUEST_PHONE not in mask_personal_data(r.getMessage()) for r in caplog.records)


# --- guests into patient records -----------------------------------------------------------------

def test_converting_a_guest_creates_one_patient_and_moves_all_their_bookings(app, client, clinic, phone_guest):
    sign_in_as(client, find_user_by_email(f"frontdesk@{DOMAIN}"))
    page = client.get(f"/frontdesk/patients/guest/{phone_guest[1]}")
    assert page.status_code == 200 and GUEST_PHONE in page_text(page)
    answer = client.post(f"/frontdesk/patients/guest/{phone_guest[1]}/convert", data={
        "csrf_token": csrf_token(client, f"/frontdesk/patients/guest/{phone_guest[1]}"), "form_token": "convert-1",
        "email": "Karl.Kaller@example.com", "full_name": "Karl Kaller"})
    assert ("success", "Created the patient record of Karl Kaller; 2 visit(s) moved onto it.") in flashes(
        follow(client, answer))
    karl = find_user_by_email("karl.kaller@example.com")
    assert karl.role == "patient" and karl.patient_profile.phone == GUEST_PHONE
    moved = [db.session.get(Booking, i) for i in phone_guest]
    assert all(b.patient_id == karl.id and b.guest_phone is None and b.guest_name is None for b in moved)
    assert [e.action for e in events_of(phone_guest[0])][-1] == "patient_linked"
    with app.app_context():  # found by phone now as a patient, no longer as a guest
        assert names(directory.search(clinic.organization_id, "030 555 12345")) == [("patient", "Karl Kaller")]
    assert client.get(f"/frontdesk/patients/guest/{phone_guest[0]}").status_code == 404


def test_converting_a_guest_whose_email_is_a_patient_merges_instead_of_duplicating(app, clinic):
    lena_visits = db.session.scalars(select(Booking.id).where(Booking.guest_name == "Lena Braun")).all()
    later = make_booking(app, organization_id=clinic.organization_id, provider_id=clinic.fischer,
                         type_id=clinic.physio, location_id=clinic.berlin_id,
                         start=db.session.get(Booking, lena_visits[0]).start_at.replace(hour=6),
                         status="cancelled", guest_name="Lena B.")
    with app.app_context():
        first = convert_guest(clinic.actor("frontdesk"), lena_visits[0], email="lena@example.com")
        existing_id, email_index, created = first.patient.id, first.patient.email_index, first.created
        with write_transaction():  # the same person books again as a guest, the email typed differently
            db.session.get(Booking, later).guest_email = "LENA@example.com"
        merged = convert_guest(clinic.actor("frontdesk"), later)
        assert created and (merged.patient.id, merged.created, merged.moved) == (existing_id, False, 1)
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email_index == email_index)) == 1
    assert {b.patient_id for b in db.session.scalars(select(Booking).where(
        Booking.id.in_([*lena_visits, later])))} == {existing_id}


def test_a_phone_only_guest_joins_the_patient_with_that_phone(app, clinic, phone_guest):
    with app.app_context():
        paula = find_user_by_email(f"patient@{DOMAIN}")
        with write_transaction():
            db.session.get(PatientProfile, paula.patient_profile.id).phone = GUEST_PHONE
        done = convert_guest(clinic.actor("frontdesk"), phone_guest[0])
        assert (done.patient.id, done.created, done.moved) == (paula.id, False, 2)


def test_converting_needs_an_email_when_nobody_has_the_phone_and_refuses_a_staff_email(app, client, clinic,
                                                                                      phone_guest):
    from app.errors import BookwellError

    with app.app_context():
        with pytest.raises(BookwellError) as missing:
            convert_guest(clinic.actor("frontdesk"), phone_guest[0])
        with pytest.raises(BookwellError) as staff_email:
            convert_guest(clinic.actor("frontdesk"), phone_guest[0], email=f"weber@{DOMAIN}")
        with pytest.raises(BookwellError) as provider:
            convert_guest(clinic.actor("weber"), phone_guest[0], email="k@example.com")
    assert (missing.value.status, staff_email.value.status, provider.value.status) == (422, 422, 403)
    assert all(db.session.get(Booking, i).patient_id is None for i in phone_guest)


def test_booking_for_a_caller_finds_the_patient_by_phone_too(app, client, clinic):
    sign_in_as(client, find_user_by_email(f"frontdesk@{DOMAIN}"))
    body = page_text(client.get("/frontdesk/book?q=0151+1234"))
    found = body[body.index('aria-label="Matching patients"'):]
    assert "Paula Patient" in found and "Olivia Park" not in found
