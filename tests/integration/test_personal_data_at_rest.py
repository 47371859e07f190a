"""Email addresses and phone numbers are encrypted in the database; the app still reads and finds them."""
from __future__ import annotations

import pytest
from sqlalchemy import Uuid, bindparam, select, text

from app import crypto
from app.accounts import find_user_by_email
from app.extensions import db
from app.models import Booking
from tests.integration.helpers import register

EMAIL = "Rita.Register@Example.com"
STORED_EMAIL = "rita.register@example.com"
PHONE = "+49 151 23456789"
STORED_PHONE = "+4915123456789"


@pytest.fixture
def registered(app, client, demo):
    response = register(client, email=EMAIL, phone=PHONE)
    assert response.status_code == 303  # "check your email": the account exists, unconfirmed


def _assert_ciphertext_of(raw: str, plaintext: str) -> None:
    assert raw != plaintext
    assert plaintext not in raw
    assert plaintext.lstrip("+") not in raw  # not even the digits
    assert crypto.decrypt(raw) == plaintext  # a token of exactly this value


def test_registered_email_and_phone_are_not_stored_in_clear(app, db_session, registered):
    index = crypto.email_index(STORED_EMAIL)
    row = db_session.execute(
        text("SELECT u.email, u.email_index, p.phone FROM users u "
             "JOIN patient_profiles p ON p.user_id = u.id WHERE u.email_index = :index"),
        {"index": index},
    ).one()
    raw_email, raw_index, raw_phone = row
    _assert_ciphertext_of(raw_email, STORED_EMAIL)
    assert "@" not in raw_email and "example" not in raw_email.lower()
    assert STORED_EMAIL not in raw_index and len(raw_index) == 64  # a keyed digest, not the address
    _assert_ciphertext_of(raw_phone, STORED_PHONE)


def test_the_orm_reads_the_plaintext_back(app, registered):
    with app.app_context():
        user = find_user_by_email(STORED_EMAIL)
        assert user.email == STORED_EMAIL
        assert user.patient_profile.phone == STORED_PHONE


@pytest.mark.parametrize(
    "typed",
    [
        "rita.register@example.com",  # as stored
        "RITA.REGISTER@EXAMPLE.COM",  # all capitals
        "  Rita.Register@Example.com ",  # stray spaces from a copy-paste
    ],
)
def test_email_lookup_ignores_letter_case_and_surrounding_spaces(app, registered, typed):
    with app.app_context():
        user = find_user_by_email(typed)
        assert user is not None and user.email == STORED_EMAIL


def test_a_different_address_is_not_found(app, registered):
    with app.app_context():
        assert find_user_by_email("rita.register@example.org") is None


def test_guest_email_and_phone_on_a_booking_are_stored_encrypted(app, db_session, demo):
    with app.app_context():
        booking = db.session.scalars(
            select(Booking).where(Booking.guest_name == "Marcus Reed")
        ).one()
        booking.guest_phone = "+12125550199"
        booking_id = booking.id
        db.session.commit()
    raw_email, raw_phone = db_session.execute(  # plain SQL: no decrypting column type in the way
        text("SELECT guest_email, guest_phone FROM bookings WHERE id = :id").bindparams(bindparam("id", type_=Uuid())),
        {"id": booking_id},
    ).one()
    _assert_ciphertext_of(raw_email, "marcus@example.com")
    _assert_ciphertext_of(raw_phone, "+12125550199")
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        assert (booking.guest_email, booking.guest_phone) == ("marcus@example.com", "+12125550199")
