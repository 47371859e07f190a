"""What the admin pages list and edit: every row of the organization, active or not."""
from __future__ import annotations

import uuid
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import STAFF_ROLES, AppointmentType, Location, Organization, Provider, Room, User

Row = TypeVar("Row")


def owned(model: type[Row], organization_id: uuid.UUID, row_id: uuid.UUID) -> Row | None:
    """The row with this id if it belongs to the organization (None for another tenant's)."""
    row = db.session.get(model, row_id)
    return row if row is not None and row.organization_id == organization_id else None


def organization(organization_id: uuid.UUID) -> Organization:
    return db.session.get(Organization, organization_id)


def all_locations(organization_id: uuid.UUID) -> list[Location]:
    query = (select(Location).options(selectinload(Location.rooms))
             .where(Location.organization_id == organization_id)
             .order_by(Location.is_active.desc(), Location.name))
    return list(db.session.scalars(query))


def all_rooms(organization_id: uuid.UUID) -> list[Room]:
    query = (select(Room).join(Location, Location.id == Room.location_id)
             .where(Room.organization_id == organization_id).order_by(Location.name, Room.name))
    return list(db.session.scalars(query))


def all_providers(organization_id: uuid.UUID) -> list[Provider]:
    query = (select(Provider).options(selectinload(Provider.locations))
             .where(Provider.organization_id == organization_id)
             .order_by(Provider.is_active.desc(), Provider.display_name))
    return list(db.session.scalars(query))


def all_appointment_types(organization_id: uuid.UUID) -> list[AppointmentType]:
    query = (select(AppointmentType).options(selectinload(AppointmentType.providers))
             .where(AppointmentType.organization_id == organization_id)
             .order_by(AppointmentType.is_active.desc(), AppointmentType.name))
    return list(db.session.scalars(query))


def staff_users(organization_id: uuid.UUID) -> list[User]:
    query = (select(User).options(selectinload(User.provider))
             .where(User.organization_id == organization_id, User.role.in_(STAFF_ROLES))
             .order_by(User.is_enabled.desc(), User.full_name))
    return list(db.session.scalars(query))


def staff_user(organization_id: uuid.UUID, user_id: uuid.UUID) -> User | None:
    user = owned(User, organization_id, user_id)
    return user if user is not None and user.role in STAFF_ROLES else None


def sign_ins_by_provider(organization_id: uuid.UUID) -> dict[uuid.UUID, User]:
    """The staff user each provider signs in as (providers without one are absent)."""
    query = select(User).where(User.organization_id == organization_id, User.provider_id.is_not(None))
    return {user.provider_id: user for user in db.session.scalars(query)}
