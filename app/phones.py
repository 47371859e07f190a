"""Phone numbers: parsed and normalised to E.164 with the phonenumbers library."""
from __future__ import annotations

import phonenumbers


def normalise_phone(raw: str, default_region: str = "US") -> str:
    """Return the E.164 form, or raise ValueError for something that cannot be a phone number."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("This does not look like a phone number.") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("This phone number is not valid; include the country code, e.g. +49 30 1234567.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
