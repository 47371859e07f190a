"""Query-string parsing with field-level 422s (a request's shape never causes a 500)."""
from __future__ import annotations

import uuid
from datetime import date
from zoneinfo import ZoneInfo

from flask import request

from app.accounts import valid_timezone
from app.errors import validation_error

MAX_RANGE_DAYS = 92


def uuid_arg(name: str, required: bool = False) -> uuid.UUID | None:
    raw = request.args.get(name)
    if not raw:
        if required:
            raise validation_error({name: "Field required"})
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise validation_error({name: "Not a valid id."}) from exc


def date_arg(name: str, required: bool = False) -> date | None:
    raw = request.args.get(name)
    if not raw:
        if required:
            raise validation_error({name: "Field required"})
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError as exc:
        raise validation_error({name: "Use a date like 2027-03-14."}) from exc
    from app.api.schemas import sane_date

    return sane_date(value, name)


def timezone_arg(default: str) -> ZoneInfo:
    raw = request.args.get("timezone") or default
    if not valid_timezone(raw):
        raise validation_error({"timezone": f"'{raw}' is not an IANA time zone."})
    return ZoneInfo(raw)


def date_range() -> tuple[date, date]:
    """`date`, or `from` and `to` (inclusive), at most MAX_RANGE_DAYS days."""
    single = date_arg("date")
    first, last = date_arg("from"), date_arg("to")
    if single is not None:
        first = last = single
    if first is None:
        raise validation_error({"date": "Give date, or from and to."})
    last = last or first
    if last < first:
        raise validation_error({"to": "to is before from."})
    if (last - first).days >= MAX_RANGE_DAYS:
        raise validation_error({"to": f"Ask for at most {MAX_RANGE_DAYS} days at a time."})
    return first, last


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise validation_error({"body": "Send a JSON object (Content-Type: application/json)."})
    return body
