"""Response models of the JSON API: the typed success answers the OpenAPI document shows.

Views build plain dicts (the `*_out` helpers in app/api/schemas.py); the `@operation`
declaration names the model its success answer must match, and under test every
answer is checked against it (extra or missing fields fail), so the two cannot drift.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from app.models import BOOKING_STATUSES


class Out(BaseModel):
    """Every field is always present (null where the schema says so); nothing else is."""

    model_config = ConfigDict(extra="forbid")


class Token(Out):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class Accepted(Out):
    """An answer that says only what happens next (no account enumeration)."""

    status: str
    message: str


class PasswordSet(Out):
    status: Literal["password_set"]
    user_id: str


class LocationOut(Out):
    id: str
    name: str
    timezone: str
    address: str | None
    phone: str | None
    is_active: bool


class LocationList(Out):
    locations: list[LocationOut]


class RoomOut(Out):
    id: str
    location_id: str
    name: str
    capacity: int
    is_virtual: bool


class RoomList(Out):
    rooms: list[RoomOut]


class ProviderOut(Out):
    id: str
    name: str
    specialty: str | None
    timezone: str
    location_ids: list[str]
    is_active: bool


class ProviderList(Out):
    providers: list[ProviderOut]


class AppointmentTypeOut(Out):
    id: str
    name: str
    description: str | None
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    seats: int
    slot_interval_minutes: int | None
    min_notice_minutes: int
    max_future_days: int
    requires_approval: bool
    allow_patient_reschedule: bool
    max_reschedules: int | None
    cancel_notice_minutes: int | None
    price_cents: int | None
    currency: str | None
    mode: Literal["in_person", "video", "phone"]
    is_active: bool
    location_id: str | None
    provider_ids: list[str]


class AppointmentTypeList(Out):
    appointment_types: list[AppointmentTypeOut]


class BreakOut(Out):
    start_time: str
    end_time: str


class RuleOut(Out):
    id: str
    kind: Literal["weekly", "date_range"]
    provider_id: str
    location_id: str
    room_id: str | None
    days_of_week: list[int]
    start_time: str
    end_time: str
    breaks: list[BreakOut]
    valid_from: str | None
    valid_to: str | None
    parallel_sessions: int
    priority: int | None


class ExceptionOut(Out):
    id: str
    kind: Literal["exception"]
    provider_id: str
    status: Literal["blocked", "available"]
    start_at: str
    end_at: str
    location_id: str | None
    appointment_type_id: str | None


AvailabilityOut = RuleOut | ExceptionOut


class TimeOffOut(Out):
    id: str
    provider_id: str
    start_at: str
    end_at: str
    reason: str | None
    status: str
    decided_at: str | None


class TimeOffDecision(TimeOffOut):
    conflicting_booking_ids: list[str]


class GenerateReport(Out):
    providers: int
    changed_rows: int


class BookingOut(Out):
    id: str
    status: Literal[BOOKING_STATUSES]
    provider_id: str
    appointment_type_id: str
    location_id: str
    room_id: str | None
    start: str
    end: str
    local_start: str | None
    local_end: str | None
    timezone: str | None
    hold_expires_at: str | None
    reschedule_count: int
    source: str
    patient_id: str | None
    cancelled_by: str | None
    created_at: str | None


class HeldBooking(BookingOut):
    hold_token: str


class BookingList(Out):
    bookings: list[BookingOut]


class BookingPage(BookingList):
    page: int
    per_page: int
    total: int


class SlotOut(Out):
    id: str | None
    start: str
    end: str
    local_start: str
    local_end: str
    provider_id: str
    location_id: str
    capacity_left: int


class SlotPage(Out):
    slots: list[SlotOut]
    total: int
    has_more: bool
    timezone: str


class TypedSlot(SlotOut):
    appointment_type_id: str


class ProviderSlots(Out):
    slots: list[TypedSlot]
    total: int
    timezone: str


class DateCount(Out):
    date: str
    available: int


class DateCounts(Out):
    dates: list[DateCount]
    timezone: str


class Conversion(Out):
    holds: int
    confirmed: int
    rate: float | None


class Figures(Out):
    """One group's numbers: utilization is booked over open minutes of the hours (None without hours)."""

    by_status: dict[str, int]
    booked_minutes: int
    open_minutes: int
    utilization: float | None
    conversion: Conversion
    no_show_rate: float | None


class ProviderFigures(Figures):
    provider_id: str
    name: str


class DayFigures(Figures):
    date: str


class AnalyticsSummary(Out):
    from_: str
    to: str
    by_status: dict[str, int]
    by_provider: dict[str, dict[str, int]]  # status counts (kept for older clients; see providers)
    by_day: dict[str, dict[str, int]]
    booked_minutes: int
    open_minutes: int
    utilization: float | None
    conversion: Conversion
    no_show_rate: float | None
    providers: list[ProviderFigures]
    days: list[DayFigures]

    model_config = ConfigDict(extra="forbid", populate_by_name=True,
                              alias_generator=lambda name: "from" if name == "from_" else name)
