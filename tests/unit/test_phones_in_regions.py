"""A national number typed for a clinic that works in several countries (app/phones.py)."""
from __future__ import annotations

import pytest

from app.phones import normalise_phone_in


@pytest.mark.parametrize(("typed", "regions", "found"), [
    ("0151 12345678", ["US", "DE"], "+4915112345678"),  # invalid at home, valid in one other country
    ("212 555 0100", ["US", "DE"], "+12125550100"),  # valid at home: home wins
    ("+49 30 1234567", ["US", "DE"], "+49301234567"),  # international: no guessing
])
def test_a_national_number_is_read_where_it_fits(typed, regions, found):
    assert normalise_phone_in(typed, regions) == found


def test_a_number_that_fits_several_other_countries_asks_for_the_country_code():
    with pytest.raises(ValueError, match="more than one of the clinic's countries"):
        normalise_phone_in("0221 1234567", ["US", "DE", "AT"])  # Cologne, or a number in Austria


def test_a_number_that_fits_nowhere_says_so():
    with pytest.raises(ValueError, match="not valid"):
        normalise_phone_in("12", ["US", "DE"])
