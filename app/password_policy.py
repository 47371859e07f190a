"""Which passwords Bookwell refuses, and why, in words a person can act on.

Refused: fewer than 10 characters; the 10,000 most common passwords (also
with digits or symbols tacked on: `monkey2024!`); one character repeated or a
run along the alphabet, the digits or a keyboard row (`aaaaaaaaaa`,
`1234567890`, `qwertyuiop`); the person's email address or its name part;
the clinic's name; the published demo password. Passwords are never trimmed
or otherwise changed: what is typed is what is hashed.
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 500
COMMON_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt"
RUNS = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiopasdfghjklzxcvbnm", "qwertzuiop", "azertyuiop")
_TAIL = re.compile(r"[\d\W_]+$")
_HEAD = re.compile(r"^[\d\W_]+")


class WeakPassword(ValueError):
    """The reason, ready to show next to the password field."""


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _simplified(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def _is_run(text: str) -> bool:
    """One character repeated, or a stretch of a known run, forwards or backwards, with repeats."""
    squeezed = re.sub(r"(.)\1+", r"\1", text.lower())
    if len(squeezed) <= 2:
        return True
    for run in RUNS:
        doubled = run + run  # 7890123 wraps around
        if squeezed in doubled or squeezed[::-1] in doubled:
            return True
    return False


def check(password: str, *, email: str | None = None, clinic: str | None = None,
          forbidden: tuple[str, ...] = ()) -> None:
    """Raise WeakPassword with the first reason this password is refused."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    core = _HEAD.sub("", _TAIL.sub("", lowered))
    common = common_passwords()
    if lowered in common or (len(core) >= 4 and core in common) or _simplified(password) in common:
        raise WeakPassword("This is one of the most common passwords. Choose something less guessable, "
                           "for example a few unrelated words.")
    if _is_run(password) or _is_run(_simplified(password) or password):
        raise WeakPassword("A repeated character or a run like 1234567890 or qwertyuiop is easy to guess.")
    simple = _simplified(password)
    if email:
        address = email.strip().lower()
        local = _simplified(address.split("@", 1)[0])
        if simple in (_simplified(address), local) or _simplified(core) == local or address in lowered:
            raise WeakPassword("Do not use your email address (or its name part) as your password.")
    if clinic and len(_simplified(clinic)) >= 4 and _simplified(clinic) in simple:
        raise WeakPassword("Do not use the clinic's name in your password.")
    for word in forbidden:
        if word and _simplified(word) and _simplified(word) in simple:
            raise WeakPassword("This password is published (the demo password). Choose your own.")
