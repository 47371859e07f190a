"""Request shapes (pydantic) and response serialisation for the JSON API.

Request bodies and query strings are pydantic models; each endpoint names its models
once in its `@operation` declaration (app/api/contract.py, docs/api-contract.md) and
the OpenAPI document is generated from them. Field types that must match a documented
format (ids, zones, clock times, instants, dates) live in app/api/fields.py.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Annotated, Literal

from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator, model_validator,
)

from app.api.fields import ClockTime, Day, IanaZone, Id, Instant, Minutes, Name
from app.contacts import MULTILINE_FIELDS, normalise_email_address, text_problem
from app.errors import validation_error
from app.models import BOOKING_STATUSES, AppointmentType, AvailabilityException, AvailabilityRule, Location, Provider, Room, TimeOff

# One plain address (no display name, list or line break), lower-cased.
EmailAddress = Annotated[str, Field(max_length=254), AfterValidator(normalise_email_address)]
# The same, where a blank means "no address".
OptionalEmail = Annotated[str, Field(max_length=254),
                          AfterValidator(lambda value: normalise_email_address(value) if value else None)]

EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)  # far from the calendar's edges
MAX_RANGE_DAYS = 92
SUMMARY_MAX_DAYS = 366  # the analytics summary's longest range
NOT_NULL = {"not": {"type": "null"}}


def sane_date(value: date | datetime | None, field: str = "date"):
    """Dates near year 1 or 9999 overflow zone arithmetic; nobody books there."""
    if value is not None and not (EARLIEST <= (value.date() if isinstance(value, datetime) else value) <= LATEST):
        raise validation_error({field: f"Use a date between {EARLIEST} and {LATEST}."})
    return value


def present(*names: str) -> dict:
    """JSON Schema: these fields are given and not null."""
    return {"required": list(names), "properties": {name: NOT_NULL for name in names}}


class Body(BaseModel):
    """Base of bodies and query strings: unknown fields are allowed (docs/api.md) and ignored;
    text is stripped and never carries NUL or other control characters (line breaks only
    in multi-line fields such as notes, see app/contacts.py); dates stay inside a sane range."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @field_validator("*", mode="after")
    @classmethod
    def _text(cls, value, info: ValidationInfo):
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("Text must not contain NUL characters.")
            if info.field_name in UNTRIMMED:
                return value
            problem = text_problem(value, multiline=(info.field_name or "") in MULTILINE_FIELDS)
            if problem:
                raise ValueError(problem)
            stripped = value.strip()
            field = cls.model_fields.get(info.field_name)
            if not stripped and value and field is not None and any(
                    getattr(rule, "min_length", 0) for rule in field.metadata):
                raise ValueError("This field must not be blank.")
            return stripped
        return value

    @model_validator(mode="after")
    def _sane_dates(self):
        for name, field in type(self).model_fields.items():
            value = getattr(self, name, None)
            if isinstance(value, (date, datetime)):
                sane_date(value, field.alias or name)  # named as the client sent it (`from`, `date`)
        return self


class Query(Body):
    """A query string. Values arrive as text: an empty value is a bad value, not an absent one."""


def unique_ids(values: list[uuid.UUID] | None) -> list[uuid.UUID] | None:
    """Repeated ids in a list mean the same thing once."""
    return None if values is None else list(dict.fromkeys(values))


def aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("Give the time with its offset, e.g. 2027-03-14T09:00:00+01:00.")
    return value


# Passwords are never trimmed (every other text is): what is typed is what is hashed.
UNTRIMMED = frozenset({"password"})
Password = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=500)]

# --- user API bodies ---------------------------------------------------------------------------

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


class RegisterRequest(Body):
    email: EmailAddress
    password: Password
    name: Name
    phone: Annotated[str, Field(max_length=40)] | None = None
    timezone: IanaZone | None = None


class HoldRequest(Body):
    """`slot_id`, or `provider_id` + `appointment_type_id` + `start`; guests add a name and an
    email or phone."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        present("slot_id"), present("provider_id", "appointment_type_id", "start")]})

    slot_id: Id | None = None
    provider_id: Id | None = None
    appointment_type_id: Id | None = None
    location_id: Id | None = None
    start: Instant | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    email: OptionalEmail | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    notes: Annotated[str, Field(max_length=2000)] | None = None
    timezone: IanaZone | None = None

    @model_validator(mode="after")
    def _target(self):
        if self.slot_id is None and (self.provider_id is None or self.appointment_type_id is None or self.start is None):
            raise validation_error({"slot_id": "Give slot_id, or provider_id, appointment_type_id and start."})
        return self  # with both, they must agree (app/booking/hold.py resolve_target)


class ConfirmRequest(Body):
    hold_token: Annotated[str, Field(max_length=200)] | None = None
    notes: Annotated[str, Field(max_length=2000)] | None = None


class CancelRequest(Body):
    reason: Annotated[str, Field(max_length=500)] | None = None
    hold_token: Annotated[str, Field(max_length=200)] | None = None


RESCHEDULE_TARGET = {"oneOf": [present("slot_id"), present("start")]}


class RescheduleRequest(Body):
    """Exactly one of `slot_id` or `start`."""

    model_config = ConfigDict(json_schema_extra=RESCHEDULE_TARGET)

    slot_id: Id | None = None
    start: Instant | None = None

    @model_validator(mode="after")
    def _target(self):
        if (self.slot_id is None) == (self.start is None):
            raise validation_error({"slot_id": "Give exactly one of slot_id or start."})
        return self


class DecisionRequest(Body):
    reason: Annotated[str, Field(max_length=500)] | None = None


# --- admin API bodies --------------------------------------------------------------------------

class LocationCreate(Body):
    name: Name
    timezone: IanaZone
    address: Annotated[str, Field(max_length=500)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None


class LocationUpdate(Body):
    """Give only what changes; `name`, `timezone` and `is_active` may be omitted but not nulled."""

    name: Name = None
    timezone: IanaZone = None
    address: Annotated[str, Field(max_length=500)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    is_active: bool = None


class RoomCreate(Body):
    location_id: Id
    name: Name
    capacity: Annotated[int, Field(ge=1, le=1000)] = 1
    is_virtual: bool = False


class ProviderCreate(Body):
    _unique = field_validator("location_ids")(unique_ids)

    name: Name
    email: OptionalEmail | None = None
    location_ids: list[Id] = Field(default_factory=list, max_length=50)
    timezone: IanaZone | None = None
    specialty: Annotated[str, Field(max_length=200)] | None = None
    bio: Annotated[str, Field(max_length=5000)] | None = None


class ProviderUpdate(Body):
    """Give only what changes; `name`, `location_ids`, `timezone` and `is_active` may be
    omitted but not nulled."""

    _unique = field_validator("location_ids")(unique_ids)
    name: Name = None
    location_ids: list[Id] = Field(default=None, max_length=50)
    timezone: IanaZone = None
    specialty: Annotated[str, Field(max_length=200)] | None = None
    bio: Annotated[str, Field(max_length=5000)] | None = None
    is_active: bool = None


class AppointmentTypeFields(Body):
    """A change to an appointment type: give only what changes. Fields without `null` in
    their schema may be omitted but not nulled."""

    _unique = field_validator("provider_ids")(unique_ids)
    name: Name = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    duration_minutes: Annotated[int, Field(ge=5, le=24 * 60)] = None
    provider_ids: list[Id] = Field(default=None, max_length=500)
    location_id: Id | None = None
    room_id: Id | None = None
    buffer_before_minutes: Annotated[int, Field(ge=0, le=240)] = None
    buffer_after_minutes: Annotated[int, Field(ge=0, le=240)] = None
    seats: Annotated[int, Field(ge=1, le=1000)] = None
    slot_interval_minutes: Annotated[int, Field(ge=5, le=24 * 60)] | None = None
    min_notice_minutes: Minutes = None
    max_future_days: Annotated[int, Field(ge=1, le=730)] = None
    requires_approval: bool = None
    allow_patient_reschedule: bool = None
    max_reschedules: Annotated[int, Field(ge=0, le=100)] | None = None
    cancel_notice_minutes: Minutes | None = None
    price_cents: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    mode: Literal["in_person", "video", "phone"] = None
    is_active: bool = None


class AppointmentTypeCreate(AppointmentTypeFields):
    name: Name
    duration_minutes: Annotated[int, Field(ge=5, le=24 * 60)]
    provider_ids: list[Id] = Field(default_factory=list, max_length=500)

    def defaults(self) -> dict:
        data = self.model_dump(exclude_none=True)
        data.setdefault("mode", "in_person")
        data.setdefault("max_future_days", 60)
        return data


class BreakIn(Body):
    start_time: ClockTime
    end_time: ClockTime


WINDOW = ("location_id", "days_of_week", "start_time", "end_time")


class AvailabilityCreate(Body):
    """A weekly or date-range window (with breaks) or a one-off exception; what each kind
    needs is in the schema's `allOf`."""

    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"if": {"properties": {"kind": {"enum": ["weekly", "date_range"]}}}, "then": present(*WINDOW)},
        {"if": {"properties": {"kind": {"const": "date_range"}}}, "then": present("valid_from", "valid_to")},
        {"if": {"properties": {"kind": {"const": "exception"}}},
         "then": {**present("status"), "anyOf": [present("start_at", "end_at"),
                                                 present("date", "start_time", "end_time")]}},
    ]})

    kind: Literal["weekly", "date_range", "exception"]
    provider_id: Id
    location_id: Id | None = None
    room_id: Id | None = None
    days_of_week: list[Annotated[int, Field(ge=1, le=7)]] | None = Field(default=None, min_length=1, max_length=7)
    start_time: ClockTime | None = None
    end_time: ClockTime | None = None
    breaks: list[BreakIn] = Field(default_factory=list, max_length=20)
    valid_from: Day | None = None
    valid_to: Day | None = None
    parallel_sessions: Annotated[int, Field(ge=1, le=100)] = 1
    priority: Annotated[int, Field(ge=-100, le=100)] | None = None
    status: Literal["blocked", "available"] | None = None
    start_at: Instant | None = None
    end_at: Instant | None = None
    day: Day | None = Field(default=None, alias="date")
    appointment_type_id: Id | None = None
    reason: Annotated[str, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _shape(self):
        missing: dict[str, str] = {}
        if self.kind in ("weekly", "date_range"):
            for name in WINDOW:
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
            for index, item in enumerate(self.breaks):
                if item.start_time == item.end_time:
                    missing[f"breaks.{index}.end_time"] = "A break must not be empty."
        else:
            if self.status is None:
                missing["status"] = "Field required"
            if self.day is not None and self.start_time is not None and self.start_time == self.end_time:
                missing["end_time"] = "The end must differ from the start."
            if self.start_at is None and (self.day is None or self.start_time is None or self.end_time is None):
                missing["start_at"] = "Give start_at and end_at, or date with start_time and end_time."
            if self.start_at is not None and (self.end_at is None or self.end_at <= self.start_at):
                missing["end_at"] = "The end must be after the start."
        if missing:
            raise validation_error(missing)  # field-level details, same envelope as other 422s
        return self


class TimeOffCreate(Body):
    provider_id: Id
    start_at: Instant
    end_at: Instant
    reason: Annotated[str, Field(max_length=500)] | None = None

    _aware = field_validator("start_at", "end_at")(aware)


class SlotsGenerate(Body):
    from_: Day = Field(alias="from")
    to: Day
    provider_id: Id | None = None

    @model_validator(mode="after")
    def _order(self):
        if self.to < self.from_:
            raise validation_error({"to": "to is before from."})
        return self


class BookingPatch(Body):
    """`action`; a reschedule names exactly one of `slot_id` or `start`."""

    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"action": {"const": "reschedule"}}}, "then": RESCHEDULE_TARGET})

    action: Literal["cancel", "reschedule", "complete", "no_show"]
    reason: Annotated[str, Field(max_length=500)] | None = None
    slot_id: Id | None = None
    start: Instant | None = None

    @model_validator(mode="after")
    def _target(self):
        if self.action == "reschedule" and (self.slot_id is None) == (self.start is None):
            raise validation_error({"slot_id": "Give exactly one of slot_id or start."})
        return self


# --- query strings -----------------------------------------------------------------------------

class ProvidersQuery(Query):
    location_id: Id | None = Field(None, description="Only providers at this location")
    appointment_type_id: Id | None = Field(None, description="Only providers offering this type")


class AppointmentTypesQuery(Query):
    provider_id: Id | None = Field(None, description="Only types this provider offers")


class DateRangeQuery(Query):
    """`date`, or `from` and `to` (inclusive local dates, at most MAX_RANGE_DAYS days)."""

    day: Day | None = Field(None, alias="date", description="One local date (instead of from and to)")
    from_: Day | None = Field(None, alias="from", description="First local date (inclusive)")
    to: Day | None = Field(None, description=f"Last local date (inclusive; at most {MAX_RANGE_DAYS} days)")
    timezone: IanaZone | None = Field(None, description="IANA zone for local dates and times "
                                                        "(default: the location's or provider's)")

    @model_validator(mode="after")
    def _range(self):
        if self.day is not None and (self.from_ is not None or self.to is not None):
            raise validation_error({"date": "Give date, or from and to, not both."})
        first, last = (self.day, self.day) if self.day is not None else (self.from_, self.to)
        if first is None:
            raise validation_error({"date": "Give date, or from and to."})
        last = last or first
        if last < first:
            raise validation_error({"to": "to is before from."})
        if (last - first).days >= MAX_RANGE_DAYS:
            raise validation_error({"to": f"Ask for at most {MAX_RANGE_DAYS} days at a time."})
        return self

    def span(self) -> tuple[date, date]:
        """(first, last) local dates, both inclusive."""
        if self.day is not None:
            return self.day, self.day
        return self.from_, self.to or self.from_


class ScopeQuery(DateRangeQuery):
    """Exactly one of `provider_id` or `location_id` (the scope), and the dates."""

    appointment_type_id: Id = Field(description="Appointment type")
    provider_id: Id | None = Field(None, description="One provider (give this or location_id, not both)")
    location_id: Id | None = Field(None, description="Every provider at a location (give this or provider_id)")

    @model_validator(mode="after")
    def _scope(self):
        if (self.provider_id is None) == (self.location_id is None):
            raise validation_error({"provider_id": "Give exactly one of provider_id or location_id."})
        return self


class ProviderAvailabilityQuery(DateRangeQuery):
    appointment_type_id: Id | None = Field(None, description="Only this appointment type")


class RoomsQuery(Query):
    location_id: Id | None = Field(None, description="Only rooms at this location")


BookingStatus = Literal[BOOKING_STATUSES]


class BookingsQuery(Query):
    status: BookingStatus | None = Field(None, description="Booking status")
    provider_id: Id | None = Field(None, description="Provider")
    location_id: Id | None = Field(None, description="Location")
    from_: Day | None = Field(None, alias="from", description="First UTC date of the start (inclusive)")
    to: Day | None = Field(None, description="Last UTC date of the start (inclusive)")
    page: Annotated[int, Field(ge=1, le=100_000)] = Field(1, description="Page number")
    per_page: Annotated[int, Field(ge=1, le=200)] = Field(50, description="Rows per page")

    @model_validator(mode="after")
    def _ordered(self):
        if self.from_ is not None and self.to is not None and self.to < self.from_:
            raise validation_error({"to": "to is before from."})
        return self


class AnalyticsQuery(Query):
    from_: Day | None = Field(None, alias="from", description="First UTC date (default: 30 days ago, or 60 days "
                                                                "before `to`)")
    to: Day | None = Field(None, description="Last UTC date (default: in 30 days, or 60 days after `from`)")
    provider_id: Id | None = Field(None, description="Only this provider's visits and hours")
    location_id: Id | None = Field(None, description="Only visits and hours at this location")

    @model_validator(mode="after")
    def _range(self):
        if self.from_ is not None and self.to is not None:
            if self.to < self.from_:
                raise validation_error({"to": "The last day must not be before the first."})
            if (self.to - self.from_).days >= SUMMARY_MAX_DAYS:
                raise validation_error({"to": f"At most {SUMMARY_MAX_DAYS} days at once."})
        return self


def iso(value: datetime | None) -> str | None:
    """An instant as the API gives it: UTC with `Z`, whatever offset it was built with (a hold's
    start keeps the request's offset until it is read back)."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value is not None else None


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
