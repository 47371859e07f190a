"""Signed webhook ingest (docs/api.md "External calendars").

`X-Bookwell-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
A missing or bad signature, or `t` more than 300 s from our clock, is 401 and
changes nothing, whatever the body (`authenticate` runs before the body is read).
A delivery id seen before is a no-op. Events upsert or remove
busy times by id; an id that is an event Bookwell wrote back never blocks:
the booking is flagged for staff instead.
"""
from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from datetime import date as Date
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.exc import IntegrityError

from app.calendars import store
from app.calendars.busy import is_own_uid, webhook_interval
from app.calendars.writeback import flag_external_change
from app.database import write_transaction
from app.errors import BookwellError
from app.extensions import db
from app.models import CalendarConnection, Provider, WebhookDelivery, utcnow

HEADER = "X-Bookwell-Signature"
TOLERANCE_SECONDS = 300
MAX_EVENTS = 1000


class WebhookEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(min_length=1, max_length=500)]
    status: Literal["confirmed", "tentative", "cancelled"]
    start: datetime | None = None
    end: datetime | None = None
    date: Date | None = None
    end_date: Date | None = None
    transparency: Literal["opaque", "transparent"] | None = None

    @model_validator(mode="after")
    def _one_shape(self):
        timed = self.start is not None or self.end is not None
        if timed and self.date is not None:
            raise ValueError("Give start and end, or date (and end_date), not both.")
        if timed:
            if self.start is None or self.end is None:
                raise ValueError("Give both start and end.")
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("Give times with their offset (RFC 3339).")
            if self.end <= self.start and self.status != "cancelled":
                raise ValueError("end must be after start.")
        elif self.date is None:
            if self.status != "cancelled":
                raise ValueError("Give start and end, or date.")
        elif self.end_date is not None and self.end_date <= self.date:
            raise ValueError("end_date must be after date (it is exclusive).")
        for value in (self.date, self.end_date, self.start, self.end):
            if value is not None and not 1970 <= value.year <= 2999:
                raise ValueError("Dates must lie between 1970 and 2999.")
        return self


class WebhookBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    delivery_id: Annotated[str, Field(min_length=1, max_length=255)]
    events: Annotated[list[WebhookEvent], Field(max_length=MAX_EVENTS)]


def _unauthenticated(message: str) -> BookwellError:
    return BookwellError(401, "UNAUTHENTICATED", message)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value a sender computes (used by tests, the benchmark and docs)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str | None, body: bytes, now: float | None = None) -> None:
    if not header:
        raise _unauthenticated(f"Sign the delivery: {HEADER} header missing.")
    parts: dict[str, list[str]] = {}
    for piece in header.split(","):
        key, _, value = piece.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts.get("t", [""])[0])
    except ValueError as exc:
        raise _unauthenticated("The signature has no valid timestamp.") from exc
    if abs((now if now is not None else time.time()) - timestamp) > TOLERANCE_SECONDS:
        raise _unauthenticated("The signature timestamp is more than 5 minutes from the server's clock.")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate.lower()) for candidate in parts.get("v1", [])):
        raise _unauthenticated("The signature does not match.")


def authenticate(connection_id: uuid.UUID, header: str | None, raw_body: bytes) -> uuid.UUID:
    """The signature first, on the raw bytes: an unknown connection or a missing, bad or stale
    signature is 401 whatever the body is; nothing has been parsed yet."""
    connection = db.session.get(CalendarConnection, connection_id)
    if connection is None or connection.kind != "webhook" or not connection.webhook_secret:
        raise _unauthenticated("No webhook is registered at this address.")
    verify(connection.webhook_secret, header, raw_body)
    return connection.id


def ingest(connection_id: uuid.UUID, raw_body: bytes) -> dict:
    """Validate and apply one delivery whose signature `authenticate` checked; returns the answer body."""
    body = WebhookBody.model_validate_json(raw_body or b"null", strict=True)  # ValidationError -> 422
    db.session.rollback()
    try:
        with write_transaction():
            connection = db.session.get(CalendarConnection, connection_id)
            if connection is None:
                raise _unauthenticated("No webhook is registered at this address.")
            db.session.add(WebhookDelivery(connection_id=connection.id, delivery_id=body.delivery_id))
            db.session.flush()  # a seen delivery id stops here (unique), before anything changes
            applied = _apply(connection, body.events)
            connection.status, connection.last_error, connection.consecutive_failures = "ok", None, 0
            connection.last_synced_at = utcnow()
    except IntegrityError:
        db.session.rollback()
        return {"applied": 0, "duplicate": True}
    return {"applied": applied}


def _apply(connection: CalendarConnection, events: list[WebhookEvent]) -> int:
    provider = db.session.get(Provider, connection.provider_id)
    zone = ZoneInfo(provider.timezone)
    source = next(s for s in connection.sources if s.external_id == "webhook")
    latest: dict[str, WebhookEvent] = {}
    for item in events:  # the last word on an id in one delivery wins
        latest[item.id] = item
    changed: dict[str, list] = {}
    for item in latest.values():
        written_by_us = flag_external_change(connection.provider_id, item.id, _flag_reason(item))
        if written_by_us or is_own_uid(item.id):
            continue
        interval = webhook_interval(item.model_dump(), zone)
        changed[item.id] = [interval] if interval is not None else []
    store.replace_events(connection, source.id, changed)
    return len(latest)


def _flag_reason(item: WebhookEvent) -> str:
    return "deleted in the external calendar" if item.status == "cancelled" else "changed in the external calendar"
