"""Pure checks of the value types every model relies on."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from app import crypto
from app.models.base import UTCDateTime, new_id
from app.phones import normalise_phone


@pytest.fixture(autouse=True)
def _keys():
    crypto.configure("unit-test-secret")


def test_encryption_round_trips_and_is_not_deterministic():
    first, second = crypto.encrypt("+4915112345678"), crypto.encrypt("+4915112345678")
    assert first != second  # Fernet tokens carry a random IV: equal values do not leak
    assert "4915112345678" not in first
    assert crypto.decrypt(first) == crypto.decrypt(second) == "+4915112345678"


def test_decrypting_with_another_key_fails_loudly():
    token = crypto.encrypt("paula@example.com")
    crypto.configure("a-different-secret")
    with pytest.raises(ValueError):
        crypto.decrypt(token)


def test_email_index_ignores_case_and_spaces_but_depends_on_the_key():
    index = crypto.email_index(" Paula@Example.com ")
    assert index == crypto.email_index("paula@example.com")
    crypto.configure("a-different-secret")
    assert crypto.email_index("paula@example.com") != index


@pytest.mark.parametrize(
    ("value", "dialect", "expected"),
    [
        # Berlin summer time: 14:00+02:00 is 12:00 UTC, stored without offset on SQLite
        (datetime(2027, 7, 1, 14, 0, tzinfo=ZoneInfo("Europe/Berlin")), sqlite.dialect(),
         datetime(2027, 7, 1, 12, 0)),
        # New York winter: 09:00-05:00 is 14:00 UTC, kept aware on PostgreSQL
        (datetime(2027, 1, 5, 9, 0, tzinfo=ZoneInfo("America/New_York")), postgresql.dialect(),
         datetime(2027, 1, 5, 14, 0, tzinfo=timezone.utc)),
        # Kathmandu's +05:45 offset
        (datetime(2027, 1, 5, 5, 45, tzinfo=ZoneInfo("Asia/Kathmandu")), postgresql.dialect(),
         datetime(2027, 1, 5, 0, 0, tzinfo=timezone.utc)),
    ],
)
def test_utc_datetime_binds_every_instant_as_utc(value, dialect, expected):
    assert UTCDateTime().process_bind_param(value, dialect) == expected


def test_utc_datetime_refuses_naive_values():
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2027, 1, 1, 9, 0), sqlite.dialect())


def test_utc_datetime_reads_back_aware_utc():
    read = UTCDateTime().process_result_value(datetime(2027, 1, 1, 9, 0), sqlite.dialect())
    assert read.tzinfo == timezone.utc and read.hour == 9
    offset = datetime(2027, 1, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    assert UTCDateTime().process_result_value(offset, postgresql.dialect()).hour == 9


def test_ids_are_uuid7_and_time_ordered():
    ids = [new_id() for _ in range(50)]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+49 30 1234567", "+49301234567"),       # German landline with spaces
        ("(212) 555-0123", "+12125550123"),        # US national format, default region
        ("+44 20 7946 0958", "+442079460958"),     # London
    ],
)
def test_phone_numbers_normalise_to_e164(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["12", "not a phone", "+1 555", ""])
def test_things_that_cannot_be_phone_numbers_are_refused(raw):
    with pytest.raises(ValueError):
        normalise_phone(raw)
