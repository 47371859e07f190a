"""Who is acting, and which bookings they may see."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select

from app import roles
from app.errors import BookwellError, not_found
from app.models import Booking, User

STAFF = frozenset(roles.STAFF)
DECIDERS = frozenset(roles.DECIDERS)  # accept / decline


@dataclass(frozen=True)
class Actor:
    organization_id: uuid.UUID
    role: str  # guest | patient | provider | frontdesk | manager | admin | system
    user_id: uuid.UUID | None = None
    provider_id: uuid.UUID | None = None
    session_key: str | None = None  # the browser session acting (pages), for the hold cap
    # A guest holding the signed manage link of one booking acts on that booking only.
    booking_id: uuid.UUID | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF or self.role == "system"

    @classmethod
    def of(cls, user: User, session_key: str | None = None) -> Actor:
        return cls(user.organization_id, user.role, user.id, user.provider_id, session_key)

    @classmethod
    def guest(cls, organization_id: uuid.UUID, session_key: str | None = None) -> Actor:
        return cls(organization_id, "guest", session_key=session_key)

    @classmethod
    def guest_with_link(cls, booking: Booking) -> Actor:
        """The person with a booking's signed manage link: the booking's patient, within policy."""
        return cls(booking.organization_id, "guest", booking_id=booking.id)

    @classmethod
    def system(cls, organization_id: uuid.UUID) -> Actor:
        return cls(organization_id, "system")


def can_see(actor: Actor, booking: Booking) -> bool:
    if booking.organization_id != actor.organization_id:
        return False
    if roles.sees_whole_clinic(actor.role):
        return True
    if actor.role == "provider":
        return booking.provider_id == actor.provider_id
    if actor.role == "patient":
        return booking.patient_id == actor.user_id
    if actor.role == "guest" and actor.booking_id is not None:
        return booking.id == actor.booking_id
    return False  # other guests act through their hold token, see _guest_may_act


def visible(actor: Actor, query: Select) -> Select:
    """Scope a bookings query to what the actor may see."""
    query = query.where(Booking.organization_id == actor.organization_id)
    if actor.role == "provider":
        return query.where(Booking.provider_id == actor.provider_id)
    if actor.role == "patient":
        return query.where(Booking.patient_id == actor.user_id)
    if roles.sees_whole_clinic(actor.role):
        return query
    if actor.role == "guest" and actor.booking_id is not None:
        return query.where(Booking.id == actor.booking_id)
    return query.where(Booking.id.is_(None))


def require_visible(actor: Actor, booking: Booking | None) -> Booking:
    """Someone else's booking is 404, exactly like one that does not exist."""
    if booking is None or not can_see(actor, booking):
        raise not_found("booking")
    return booking


def may_act_for(actor: Actor, provider_id: uuid.UUID) -> bool:
    """Whose agenda the actor may put a booking into: a provider only their own; front
    desk, managers, admins and the system any provider of the clinic; patients and guests
    any provider (they choose whom to see)."""
    if actor.role == "provider":
        return provider_id == actor.provider_id
    return True


def require_may_act_for(actor: Actor, provider_id: uuid.UUID) -> None:
    if not may_act_for(actor, provider_id):
        raise BookwellError(403, "FORBIDDEN", "You can only move a visit to a time in your own agenda.")


def require_decider(actor: Actor) -> None:
    if actor.role not in DECIDERS and actor.role != "system":
        raise BookwellError(403, "FORBIDDEN", "Only the clinic can accept or decline a request.")
