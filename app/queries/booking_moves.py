"""What staff see before cancelling or moving a visit: the patient-facing policy they are
overriding (as a warning, never a refusal) and the providers and free times to move to."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.availability import reads
from app.availability.reads import OpenSlot
from app.booking.actors import Actor
from app.booking.policies import check_patient_cancel, check_patient_reschedule
from app.errors import BookwellError
from app.models import Booking, Provider

STRIP_DAYS = 14


def policy_warning(booking: Booking, now: datetime, action: str) -> str | None:
    """The message a patient would get if they tried this online, or None when they could."""
    kind = booking.appointment_type
    try:
        if action == "cancel":
            check_patient_cancel(kind, booking, now)
        else:
            check_patient_reschedule(kind, booking, now)
    except BookwellError as error:
        return error.message
    return None


def target_providers(actor: Actor, booking: Booking) -> list[Provider]:
    """Who the visit may move to: a provider only within their own agenda; the front desk,
    managers and admins to any active provider of the organization offering the type."""
    offering = sorted((p for p in booking.appointment_type.providers
                       if p.is_active and p.organization_id == booking.organization_id),
                      key=lambda p: (p.id != booking.provider_id, p.display_name))
    if actor.role == "provider":
        return [p for p in offering if p.id == actor.provider_id]
    return offering


@dataclass(frozen=True)
class MoveChoices:
    provider: Provider
    tz: str
    day: date
    first: date
    today: date
    strip: list[dict]
    slots: list[OpenSlot]


def move_choices(booking: Booking, provider: Provider, wanted_day: date | None, today: date,
                 zone: str | None = None) -> MoveChoices:
    """The free times of `provider` for the booking's type: a 14-day strip and one day's slots
    (the wanted day, else the visit's own, else the first with free times), in `zone` (a
    patient's own), else the zone of the provider's first location (the booking's own when they
    work there)."""
    places = provider.locations
    place = booking.location if booking.location in places or not places else places[0]
    tz = ZoneInfo(zone or place.timezone)
    wanted_day = wanted_day or booking.start_at.astimezone(tz).date()  # open on the visit's own day
    day = wanted_day if today <= wanted_day <= today + timedelta(days=366) else None
    first = today + timedelta(days=((day or today) - today).days // STRIP_DAYS * STRIP_DAYS)
    kind = booking.appointment_type
    counts = reads.date_counts(kind, [provider], first, first + timedelta(days=STRIP_DAYS - 1), tz)
    strip = [{"date": date.fromisoformat(c["date"]), "available": c["available"]} for c in counts]
    day = day or next((d["date"] for d in strip if d["available"]), first)
    slots = [s for s in reads.open_slots(kind, [provider], day, day, tz)  # (a group's own place: no move)
             if not (provider.id == booking.provider_id and s.start == booking.start_at)]
    return MoveChoices(provider, tz.key, day, first, today, strip, slots)
