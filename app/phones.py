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


def normalise_phone_in(raw: str, regions: list[str]) -> str:
    """E.164 of a number typed for a clinic that works in `regions` (its own first): a national
    number is read in the clinic's own region when it is valid there, else in the one other
    region where it is; ValueError when none, or several, fit."""
    if raw.strip().startswith("+") or len(regions) <= 1:
        return normalise_phone(raw, regions[0] if regions else "US")
    try:
        return normalise_phone(raw, regions[0])
    except ValueError:
        pass
    found = []
    for region in regions[1:]:
        try:
            number = normalise_phone(raw, region)
        except ValueError:
            continue
        if number not in found:
            found.append(number)
    if len(found) == 1:
        return found[0]
    if found:
        raise ValueError("This number is valid in more than one of the clinic's countries; "
                         "add the country code, e.g. +49 30 1234567.")
    return normalise_phone(raw, regions[0])  # raises with the usual words
