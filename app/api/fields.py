"""Field types of the JSON API: what the server accepts is exactly what the OpenAPI
document says (docs/api-contract.md).

Pydantic alone is more lenient than the formats it documents (a UUID without dashes,
a clock time with an offset, an instant without seconds or offset, any string where
an IANA zone is meant). These types check strings against the documented format and
describe themselves with the same words, so the document and the server cannot
disagree. Python objects (the admin pages pass `uuid.UUID`, `time`, ...) pass as they
are.
"""
from __future__ import annotations

import functools
import re
import uuid
from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from app.accounts import valid_timezone

ZONE_SCHEMA_NAME = "TimeZone"
ZONE_FORMAT = "iana-time-zone"  # app/api/openapi.py points such fields at the TimeZone component

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@functools.cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone the server accepts (`app.accounts.valid_timezone`), sorted."""
    return tuple(sorted(name for name in available_timezones() if valid_timezone(name)))


def zone_schema() -> dict:
    """The OpenAPI component every zone field refers to."""
    return {"type": "string", "enum": list(zone_names()),
            "description": "An IANA time zone name such as Europe/Berlin (the server checks it with zoneinfo)."}


def _parsed(pattern: re.Pattern, parse, message: str):
    """A before-validator: text must match `pattern` and is parsed here, so strict
    validation (JSON bodies) and lax validation (forms) see the same Python value."""

    def check(value: Any) -> Any:
        if isinstance(value, str):
            if not pattern.fullmatch(value):
                raise ValueError(message)
            try:
                return parse(value)
            except ValueError as exc:
                raise ValueError(message) from exc
        return value

    return check


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text[:10] + "T" + text[11:].upper().replace("Z", "+00:00"))


def _zone(value: str) -> str:
    if not valid_timezone(value):
        raise ValueError(f"'{value[:64]}' is not an IANA time zone such as Europe/Berlin.")
    return value


Id = Annotated[uuid.UUID, BeforeValidator(_parsed(_UUID, uuid.UUID, "Use a UUID such as 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.")),
               WithJsonSchema({"type": "string", "format": "uuid"})]
"""A UUID in its canonical 8-4-4-4-12 spelling."""

IanaZone = Annotated[str, AfterValidator(_zone), WithJsonSchema({
    "type": "string", "format": ZONE_FORMAT, "description": "IANA time zone, e.g. Europe/Berlin"})]
"""An IANA time zone name, checked with zoneinfo."""

ClockTime = Annotated[time, BeforeValidator(_parsed(_CLOCK, time.fromisoformat, "Use a local time like 09:00 (24 hours, no offset).")),
                      WithJsonSchema({"type": "string", "pattern": _CLOCK.pattern,
                                      "description": "Local wall-clock time, HH:MM or HH:MM:SS, no offset."})]
"""A wall-clock time of day (no offset: it is read in the location's zone)."""

Instant = Annotated[datetime,
                    BeforeValidator(_parsed(_INSTANT, _instant, "Use RFC 3339 with an offset, e.g. 2027-03-14T09:00:00+01:00.")),
                    WithJsonSchema({"type": "string", "format": "date-time",
                                    "description": "RFC 3339 with an offset, e.g. 2027-03-14T09:00:00+01:00."})]
"""An instant: RFC 3339 date-time with seconds and an offset."""

Day = Annotated[date, BeforeValidator(_parsed(_DAY, date.fromisoformat, "Use a date like 2027-03-14.")),
                WithJsonSchema({"type": "string", "format": "date"})]
"""A calendar date, YYYY-MM-DD."""

Name = Annotated[str, Field(min_length=1, max_length=200)]
Minutes = Annotated[int, Field(ge=0, le=7 * 24 * 60)]
