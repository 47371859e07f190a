"""Request shapes (pydantic) and response serialisation for the JSON API."""
from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from app.errors import validation_error
from app.models import AppointmentType, AvailabilityException, AvailabilityRule, Location, Provider, Room, TimeOff

Name = Annotated[str, Field(min_length=1, max_length=200)]
Minutes = Annotated[int, Field(ge=0, le=7 * 24 * 60)]


EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)  # far from the calendar's edges


def sane_date(value: date | datetime | None, field: str = "date"):
    """Dates near year 1 or 9999 overflow zone arithmetic; nobody books there."""
    if value is not None and not (EARLIEST <= (value.date() if isinstance(value, datetime) else value) <= LATEST):
        raise validation_error({field: f"Use a date between {EARLIEST} and {LATEST}."})
    return value


class Body(BaseModel):
    """Unknown fields are allowed (API.md) and ignored. Text never carries NUL
    characters and dates stay inside a sane range."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)
    not_null: ClassVar[frozenset[str]] = frozenset()  # for updates: fields that may be omitted but not nulled

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data):
        def walk(value, path):
            if isinstance(value, str) and "\x00" in value:
                raise validation_error({path or "body": "Text must not contain NUL characters."})
            if isinstance(value, dict):
                for key, item in value.items():
                    walk(item, f"{path}.{key}" if path else str(key))
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    walk(item, f"{path}.{index}")

        walk(data, "")
        if isinstance(data, dict):
            nulled = {name: "May not be null." for name in cls.not_null if name in data and data[name] is None}
            if nulled:
                raise validation_error(nulled)
        return data

    @model_validator(mode="after")
    def _sane_dates(self):
        for name in type(self).model_fields:
            value = getattr(self, name, None)
            if isinstance(value, (date, datetime)):
                sane_date(value, name)
        return self


def unique_ids(values: list[uuid.UUID] | None) -> list[uuid.UUID] | None:
    """Repeated ids in a list mean the same thing once."""
    return None if values is None else list(dict.fromkeys(values))


def aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("Give the time with its offset, e.g. 2027-03-14T09:00:00+01:00.")
    return value


# Passwords are never trimmed (every other text is): what is typed is what is hashed.
Password = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=500)]


class TokenRequest(Body):
    email: Annotated[str, Field(min_length=3, max_length=254)]
    password: Password
    organization: Annotated[str, Field(max_length=80)] | None = None  # slug; else the URL's, else any


class PasswordResetRequest(Body):
    email: Annotated[str, Field(min_length=3, max_length=254)]
    organization: Annotated[str, Field(max_length=80)] | None = None


class PasswordResetConfirm(Body):
    token: Annotated[str, Field(min_length=1, max_length=2000)]
    password: Password


class LocationCreate(Body):
    name: Name
    timezone: Annotated[str, Field(min_length=1, max_length=64)]
    address: Annotated[str, Field(max_length=500)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None


class LocationUpdate(Body):
    not_null = frozenset({"name", "timezone", "is_active"})
    name: Name | None = None
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    is_active: bool | None = None


class RoomCreate(Body):
    location_id: uuid.UUID
    name: Name
    capacity: Annotated[int, Field(ge=1, le=1000)] = 1
    is_virtual: bool = False


class ProviderCreate(Body):
    _unique = field_validator("location_ids")(unique_ids)

    name: Name
    email: Annotated[str, Field(max_length=254)] | None = None
    location_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    timezone: Annotated[str, Field(max_length=64)] | None = None
    specialty: Annotated[str, Field(max_length=200)] | None = None
    bio: Annotated[str, Field(max_length=5000)] | None = None


class ProviderUpdate(Body):
    not_null = frozenset({"name", "timezone", "is_active", "location_ids"})
    _unique = field_validator("location_ids")(unique_ids)
    name: Name | None = None
    location_ids: list[uuid.UUID] | None = Field(default=None, max_length=50)
    timezone: Annotated[str, Field(max_length=64)] | None = None
    specialty: Annotated[str, Field(max_length=200)] | None = None
    bio: Annotated[str, Field(max_length=5000)] | None = None
    is_active: bool | None = None


class AppointmentTypeFields(Body):
    not_null = frozenset({"name", "duration_minutes", "provider_ids", "buffer_before_minutes",
                          "buffer_after_minutes", "seats", "min_notice_minutes", "max_future_days",
                          "requires_approval", "allow_patient_reschedule", "mode", "is_active"})
    _unique = field_validator("provider_ids")(unique_ids)
    name: Name | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    duration_minutes: Annotated[int, Field(ge=5, le=24 * 60)] | None = None
    provider_ids: list[uuid.UUID] | None = Field(default=None, max_length=500)
    location_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    buffer_before_minutes: Annotated[int, Field(ge=0, le=240)] | None = None
    buffer_after_minutes: Annotated[int, Field(ge=0, le=240)] | None = None
    seats: Annotated[int, Field(ge=1, le=1000)] | None = None
    slot_interval_minutes: Annotated[int, Field(ge=5, le=24 * 60)] | None = None
    min_notice_minutes: Minutes | None = None
    max_future_days: Annotated[int, Field(ge=1, le=730)] | None = None
    requires_approval: bool | None = None
    allow_patient_reschedule: bool | None = None
    max_reschedules: Annotated[int, Field(ge=0, le=100)] | None = None
    cancel_notice_minutes: Minutes | None = None
    price_cents: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    mode: Literal["in_person", "video", "phone"] | None = None
    is_active: bool | None = None


class AppointmentTypeCreate(AppointmentTypeFields):
    name: Name
    duration_minutes: Annotated[int, Field(ge=5, le=24 * 60)]
    provider_ids: list[uuid.UUID] = Field(default_factory=list, max_length=500)

    def defaults(self) -> dict:
        data = self.model_dump(exclude_none=True)
        data.setdefault("mode", "in_person")
        data.setdefault("max_future_days", 60)
        return data


class BreakIn(Body):
    start_time: time
    end_time: time


class AvailabilityCreate(Body):
    kind: Literal["weekly", "date_range", "exception"]
    provider_id: uuid.UUID
    location_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    days_of_week: list[Annotated[int, Field(ge=1, le=7)]] | None = Field(default=None, min_length=1, max_length=7)
    start_time: time | None = None
    end_time: time | None = None
    breaks: list[BreakIn] = Field(default_factory=list, max_length=20)
    valid_from: date | None = None
    valid_to: date | None = None
    parallel_sessions: Annotated[int, Field(ge=1, le=100)] = 1
    priority: Annotated[int, Field(ge=-100, le=100)] | None = None
    status: Literal["blocked", "available"] | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    day: date | None = Field(default=None, alias="date")
    appointment_type_id: uuid.UUID | None = None
    reason: Annotated[str, Field(max_length=500)] | None = None

    _aware = field_validator("start_at", "end_at")(aware)

    @model_validator(mode="after")
    def _shape(self):
        missing: dict[str, str] = {}
        if self.kind in ("weekly", "date_range"):
            for name in ("location_id", "days_of_week", "start_time", "end_time"):
                if getattr(self, name) is None:
                    missing[name] = "Field required"
            if self.kind == "date_range":
                for name in ("valid_from", "valid_to"):
                    if getattr(self, name) is None:
                        missing[name] = "Field required"
            if self.start_time is not None and self.start_time == self.end_time:
                missing["end_time"] = "The end must differ from the start."
            if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
                missing["valid_to"] = "valid_to is before valid_from."
        else:
            if self.status is None:
                missing["status"] = "Field required"
            if self.start_at is None and (self.day is None or self.start_time is None or self.end_time is None):
                missing["start_at"] = "Give start_at and end_at, or date with start_time and end_time."
            if self.start_at is not None and (self.end_at is None or self.end_at <= self.start_at):
                missing["end_at"] = "The end must be after the start."
        if missing:
            raise validation_error(missing)  # field-level details, same envelope as other 422s
        return self


class TimeOffCreate(Body):
    provider_id: uuid.UUID
    start_at: datetime
    end_at: datetime
    reason: Annotated[str, Field(max_length=500)] | None = None

    _aware = field_validator("start_at", "end_at")(aware)


class SlotsGenerate(Body):
    from_: date = Field(alias="from")
    to: date
    provider_id: uuid.UUID | None = None


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def location_out(loc: Location) -> dict:
    return {"id": str(loc.id), "name": loc.name, "timezone": loc.timezone, "address": loc.address,
            "phone": loc.phone, "is_active": loc.is_active}


def room_out(room: Room) -> dict:
    return {"id": str(room.id), "location_id": str(room.location_id), "name": room.name,
            "capacity": room.capacity, "is_virtual": room.is_virtual}


def provider_out(provider: Provider) -> dict:
    return {"id": str(provider.id), "name": provider.display_name, "specialty": provider.specialty,
            "timezone": provider.timezone, "location_ids": [str(loc.id) for loc in provider.locations],
            "is_active": provider.is_active}


def appointment_type_out(kind: AppointmentType) -> dict:
    return {
        "id": str(kind.id), "name": kind.name, "description": kind.description,
        "duration_minutes": kind.duration_minutes, "buffer_before_minutes": kind.buffer_before_minutes,
        "buffer_after_minutes": kind.buffer_after_minutes, "seats": kind.seats,
        "slot_interval_minutes": kind.slot_interval_minutes, "min_notice_minutes": kind.min_notice_minutes,
        "max_future_days": kind.max_future_days, "requires_approval": kind.requires_approval,
        "allow_patient_reschedule": kind.allow_patient_reschedule, "max_reschedules": kind.max_reschedules,
        "cancel_notice_minutes": kind.cancel_notice_minutes, "price_cents": kind.price_cents,
        "currency": kind.currency, "mode": kind.mode, "is_active": kind.is_active,
        "location_id": str(kind.default_location_id) if kind.default_location_id else None,
        "provider_ids": [str(p.id) for p in kind.providers],
    }


def rule_out(rule: AvailabilityRule) -> dict:
    return {
        "id": str(rule.id), "kind": rule.kind, "provider_id": str(rule.provider_id),
        "location_id": str(rule.location_id), "room_id": str(rule.room_id) if rule.room_id else None,
        "days_of_week": rule.weekdays, "start_time": rule.start_time.strftime("%H:%M"),
        "end_time": rule.end_time.strftime("%H:%M"),
        "breaks": [{"start_time": b.start_time.strftime("%H:%M"), "end_time": b.end_time.strftime("%H:%M")}
                   for b in rule.breaks],
        "valid_from": rule.valid_from.isoformat() if rule.valid_from else None,
        "valid_to": rule.valid_to.isoformat() if rule.valid_to else None,
        "parallel_sessions": rule.parallel_sessions, "priority": rule.priority,
    }


def exception_out(item: AvailabilityException) -> dict:
    return {"id": str(item.id), "kind": "exception", "provider_id": str(item.provider_id), "status": item.status,
            "start_at": iso(item.start_at), "end_at": iso(item.end_at),
            "location_id": str(item.location_id) if item.location_id else None,
            "appointment_type_id": str(item.appointment_type_id) if item.appointment_type_id else None}


def time_off_out(item: TimeOff) -> dict:
    return {"id": str(item.id), "provider_id": str(item.provider_id), "start_at": iso(item.start_at),
            "end_at": iso(item.end_at), "reason": item.reason, "status": item.status,
            "decided_at": iso(item.decided_at)}


class RegisterRequest(Body):
    email: Annotated[str, Field(min_length=3, max_length=254)]
    password: Password
    name: Name
    phone: Annotated[str, Field(max_length=40)] | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None


class HoldRequest(Body):
    slot_id: uuid.UUID | None = None
    provider_id: uuid.UUID | None = None
    appointment_type_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    start: datetime | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    notes: Annotated[str, Field(max_length=2000)] | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None

    _aware = field_validator("start")(aware)

    @model_validator(mode="after")
    def _target(self):
        if self.slot_id is None and (self.provider_id is None or self.appointment_type_id is None or self.start is None):
            raise validation_error({"slot_id": "Give slot_id, or provider_id, appointment_type_id and start."})
        return self


class ConfirmRequest(Body):
    hold_token: Annotated[str, Field(max_length=200)] | None = None
    notes: Annotated[str, Field(max_length=2000)] | None = None


class CancelRequest(Body):
    reason: Annotated[str, Field(max_length=500)] | None = None
    hold_token: Annotated[str, Field(max_length=200)] | None = None


class RescheduleRequest(Body):
    slot_id: uuid.UUID | None = None
    start: datetime | None = None

    _aware = field_validator("start")(aware)

    @model_validator(mode="after")
    def _target(self):
        if (self.slot_id is None) == (self.start is None):
            raise validation_error({"slot_id": "Give exactly one of slot_id or start."})
        return self


class DecisionRequest(Body):
    reason: Annotated[str, Field(max_length=500)] | None = None


class BookingPatch(Body):
    action: Literal["cancel", "reschedule", "complete", "no_show"]
    reason: Annotated[str, Field(max_length=500)] | None = None
    slot_id: uuid.UUID | None = None
    start: datetime | None = None

    _aware = field_validator("start")(aware)


def booking_out(booking, *, hold_token: str | None = None) -> dict:
    from zoneinfo import ZoneInfo

    from app.models import utcnow

    local = ZoneInfo(booking.location.timezone) if booking.location else None
    status = booking.status
    if status == "held" and booking.hold_expires_at and booking.hold_expires_at <= utcnow():
        status = "expired"  # lazily: the every-minute job writes it down
    out = {
        "id": str(booking.id), "status": status, "provider_id": str(booking.provider_id),
        "appointment_type_id": str(booking.appointment_type_id), "location_id": str(booking.location_id),
        "room_id": str(booking.room_id) if booking.room_id else None,
        "start": iso(booking.start_at), "end": iso(booking.end_at),
        "local_start": booking.start_at.astimezone(local).isoformat() if local else None,
        "local_end": booking.end_at.astimezone(local).isoformat() if local else None,
        "timezone": booking.location.timezone if booking.location else None,
        "hold_expires_at": iso(booking.hold_expires_at) if status == "held" else None,
        "reschedule_count": booking.reschedule_count, "source": booking.source,
        "patient_id": str(booking.patient_id) if booking.patient_id else None,
        "cancelled_by": booking.cancelled_by, "created_at": iso(booking.created_at),
    }
    if hold_token is not None:
        out["hold_token"] = hold_token
    return out
