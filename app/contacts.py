"""Valid contacts only (docs/security.md).

What people type ends up in email headers, text messages and calendar files, so:

- an email address is exactly one plain address (email-validator: no display name,
  no list, no quoted local part, no line breaks), lower-cased;
- phone numbers go through app/phones.py (phonenumbers, E.164);
- no text carries control characters: single-line fields (names, reasons, subjects)
  refuse every one, CR and LF included; multi-line fields (notes, descriptions) allow
  only line breaks and tabs.

Pure functions raising ValueError with a message meant for the person typing.
"""
from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

EMAIL_MAX = 254
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
# Free-text fields that may span lines; every other text is one line.
MULTILINE_FIELDS = frozenset({"notes", "description", "bio", "address"})

SINGLE_LINE_MESSAGE = "Use one line of text without control characters (no line breaks or tabs)."
MULTILINE_MESSAGE = "Remove the invisible control characters from this text."
EMAIL_MESSAGE = "This does not look like an email address. Give one address, like name@example.com."


def text_problem(value: str, multiline: bool = False) -> str | None:
    """Why `value` may not be stored, or None when it is fine."""
    pattern = _CONTROL_BUT_LINES if multiline else _ANY_CONTROL
    if pattern.search(value):
        return MULTILINE_MESSAGE if multiline else SINGLE_LINE_MESSAGE
    return None


def check_text(value: str | None, multiline: bool = False) -> str | None:
    """`value` unchanged, or ValueError when it carries control characters."""
    if value is not None:
        problem = text_problem(value, multiline)
        if problem:
            raise ValueError(problem)
    return value


def normalise_email_address(raw: str) -> str:
    """One plain address, lower-cased; ValueError for anything else ("000", lists,
    "Name <a@b>", CR/LF)."""
    value = (raw or "").strip()
    if not value or len(value) > EMAIL_MAX or _ANY_CONTROL.search(value):
        raise ValueError(EMAIL_MESSAGE)
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False,
                                allow_display_name=False, allow_quoted_local=False)
    except EmailNotValidError as exc:
        raise ValueError(EMAIL_MESSAGE) from exc
    return result.normalized.lower()
