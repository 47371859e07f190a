"""All models, imported here so Alembic and the app see the whole metadata."""
from app.models.appointment_type import MODES, AppointmentType, appointment_type_providers
from app.models.availability import (
    AvailabilityBreak,
    AvailabilityException,
    AvailabilityRule,
    TimeOff,
    weekday_mask,
)
from app.models.base import Base, new_id, utcnow
from app.models.booking import BOOKING_STATUSES, OCCUPYING_STATUSES, Booking, BookingEvent
from app.models.calendars import (
    CalendarConnection,
    CalendarEventLink,
    CalendarSource,
    ExternalBusyTime,
    GooglePushChannel,
    WebhookDelivery,
)
from app.models.notification import Notification
from app.models.operations import IdempotencyRecord, InputVersion, JobHeartbeat
from app.models.organization import Location, Organization, Room
from app.models.phone_lookup import PhoneLookupToken
from app.models.provider import Provider, provider_locations
from app.models.slots import AvailabilitySlot
from app.models.user import ROLES, STAFF_ROLES, PatientProfile, SignedOutSession, User

__all__ = [
    "MODES", "AppointmentType", "appointment_type_providers", "AvailabilityBreak",
    "AvailabilityException", "AvailabilityRule", "TimeOff", "weekday_mask", "Base", "new_id",
    "utcnow", "BOOKING_STATUSES", "OCCUPYING_STATUSES", "Booking", "BookingEvent",
    "CalendarConnection", "CalendarEventLink", "CalendarSource", "ExternalBusyTime", "GooglePushChannel", "WebhookDelivery", "Notification", "IdempotencyRecord", "InputVersion",
    "JobHeartbeat", "Location", "Organization", "Room", "Provider", "provider_locations",
    "AvailabilitySlot", "PhoneLookupToken", "ROLES", "STAFF_ROLES", "PatientProfile", "SignedOutSession", "User",
]
