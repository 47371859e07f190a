"""Booking policies of an appointment type, with messages a patient understands."""
from __future__ import annotations

from datetime import datetime, timedelta

from app.errors import BookwellError
from app.models import AppointmentType, Booking


def violation(message: str, **details) -> BookwellError:
    return BookwellError(409, "POLICY_VIOLATION", message, details)


def _duration(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return f"{days} day{'s' if days != 1 else ''}"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"


def check_booking_window(kind: AppointmentType, start: datetime, now: datetime) -> None:
    """Minimum notice and maximum days ahead."""
    if start < now + timedelta(minutes=kind.min_notice_minutes):
        if start < now:
            raise violation("This time has already passed. Please choose another time.", rule="in_past")
        raise violation(f"{kind.name} must be booked at least {_duration(kind.min_notice_minutes)} ahead. "
                        "Please choose a later time or call the clinic.", rule="min_notice")
    if start > now + timedelta(days=kind.max_future_days):
        raise violation(f"{kind.name} can be booked at most {kind.max_future_days} days ahead.",
                        rule="max_future_days")


def check_patient_cancel(kind: AppointmentType, booking: Booking, now: datetime, verb: str = "cancelled") -> None:
    if booking.status == "held" or kind.cancel_notice_minutes is None:
        return
    if now > booking.start_at - timedelta(minutes=kind.cancel_notice_minutes):
        raise violation(f"This appointment can only be {verb} online up to "
                        f"{_duration(kind.cancel_notice_minutes)} before it starts. Please call the clinic.",
                        rule="cancel_notice")


def check_patient_reschedule(kind: AppointmentType, booking: Booking, now: datetime) -> None:
    if not kind.allow_patient_reschedule:
        raise violation(f"{kind.name} appointments cannot be moved online. Please call the clinic.",
                        rule="reschedule_not_allowed")
    if kind.max_reschedules is not None and booking.reschedule_count >= kind.max_reschedules:
        raise violation(f"This appointment has already been moved {booking.reschedule_count} "
                        f"time{'s' if booking.reschedule_count != 1 else ''}, the most allowed online. "
                        "Please call the clinic.", rule="max_reschedules")
    check_patient_cancel(kind, booking, now, verb="moved")


def check_started(booking: Booking, now: datetime, action: str) -> None:
    if now < booking.start_at:
        raise violation(f"An appointment can only be {action} once it has started.", rule="not_started")
