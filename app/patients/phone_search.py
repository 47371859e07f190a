"""Which plain search keys a phone number has, and which ones a typed query asks for.

Pure: strings in, strings out (the keyed digest is taken by app/patients/phone_index.py).
A stored number is its E.164 digits, e.g. 49301234567 for +49 30 1234567; its keys are

    full:<digits>            the whole number (the blind index column)
    prefix:<first n digits>  for n = PREFIX_MIN .. all digits (typing the start of a number)
    suffix:<last n digits>   for n in SUFFIXES (typing the last digits of a number)

A query is read the same way: "+49 30 1234 567" and "0049 30 1234567" are international;
"030 1234" is national, so it is read once per region the clinic works in (trunk "0"
dropped, country code put in front); bare digits are also tried as the end of a number.
The keys only narrow the search: callers check each candidate against the decrypted
number (`matches`), so a shared prefix never shows a wrong person.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

PREFIX_MIN = 6  # country code and a few digits: shorter prefixes would match half a city
SUFFIXES = (4, 5, 6)
_PHONE_CHARS = re.compile(r"^[+\d\s().\-/]+$")


def digits_of(number: str, default_region: str = "US") -> str | None:
    """The E.164 digits (no '+') of a stored number, or None when it is no phone number."""
    try:
        parsed = phonenumbers.parse(number, None if number.strip().startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        only = re.sub(r"\D", "", number)
        return only or None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def number_keys(digits: str) -> set[str]:
    """Every search key of one stored number."""
    keys = {f"full:{digits}"}
    keys |= {f"prefix:{digits[:n]}" for n in range(PREFIX_MIN, len(digits) + 1)}
    keys |= {f"suffix:{digits[-n:]}" for n in SUFFIXES if len(digits) >= n}
    return keys


def looks_like_phone(text: str) -> bool:
    """A query of phone characters only, with at least four digits."""
    return bool(_PHONE_CHARS.match(text.strip())) and len(re.sub(r"\D", "", text)) >= min(SUFFIXES)


@dataclass(frozen=True)
class PhoneQuery:
    starts: frozenset[str]  # international digit strings the number may start with
    ends: str | None  # digits the number may end with

    def keys(self) -> set[str]:
        keys = {f"prefix:{start}" for start in self.starts if len(start) >= PREFIX_MIN}
        if self.ends:
            keys.add(f"suffix:{self.ends[-max(SUFFIXES):]}")
        return keys

    def matches(self, digits: str) -> bool:
        return any(digits.startswith(start) for start in self.starts if len(start) >= PREFIX_MIN) or (
            self.ends is not None and digits.endswith(self.ends))


def read_query(text: str, regions: list[str]) -> PhoneQuery:
    """What a typed number can mean, given the regions the clinic works in (e.g. ["DE", "US"])."""
    # "+49 (0)30 ...": the bracketed trunk zero is written for callers inside the country only
    raw = re.sub(r"\(\s*0\s*\)", "", text.strip())
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        return PhoneQuery(frozenset({digits}), None)
    if digits.startswith("00"):  # the international call prefix of most of the world
        return PhoneQuery(frozenset({digits[2:]}), None)
    starts = {digits}  # typed with the country code but without '+'
    for region in regions:
        code = phonenumbers.country_code_for_region(region)
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if not code or metadata is None:
            continue
        trunk = metadata.national_prefix or ""
        if trunk and digits.startswith(trunk):
            starts.add(f"{code}{digits[len(trunk):]}")
        elif not trunk or trunk == str(code):  # e.g. the US, where the trunk "1" is usually left out
            starts.add(f"{code}{digits}")
    ends = digits if len(digits) >= min(SUFFIXES) and not (digits.startswith("0") and len(digits) > 6) else None
    return PhoneQuery(frozenset(starts), ends)
