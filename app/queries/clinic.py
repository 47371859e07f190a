"""The clinic's configuration as pages show it."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import AppointmentType, AvailabilityRule, Location, Provider, User


def locations(organization_id: uuid.UUID) -> list[Location]:
    query = (select(Location).options(selectinload(Location.rooms))
             .where(Location.organization_id == organization_id, Location.is_active).order_by(Location.name))
    return list(db.session.scalars(query))


def providers(organization_id: uuid.UUID) -> list[Provider]:
    query = (select(Provider).options(selectinload(Provider.locations))
             .where(Provider.organization_id == organization_id, Provider.is_active).order_by(Provider.display_name))
    return list(db.session.scalars(query))


def appointment_types(organization_id: uuid.UUID) -> list[AppointmentType]:
    query = (select(AppointmentType).options(selectinload(AppointmentType.providers))
             .where(AppointmentType.organization_id == organization_id, AppointmentType.is_active)
             .order_by(AppointmentType.name))
    return list(db.session.scalars(query))


def users_by_role(organization_id: uuid.UUID) -> dict[str, int]:
    rows = db.session.execute(select(User.role, func.count()).where(User.organization_id == organization_id)
                              .group_by(User.role))
    return dict(rows.all())


def weekly_hours(organization_id: uuid.UUID, provider_id: uuid.UUID) -> list[AvailabilityRule]:
    query = (select(AvailabilityRule).options(selectinload(AvailabilityRule.breaks))
             .where(AvailabilityRule.organization_id == organization_id, AvailabilityRule.provider_id == provider_id)
             .order_by(AvailabilityRule.weekday_mask.desc(), AvailabilityRule.start_time))
    return list(db.session.scalars(query))


def location_names(organization_id: uuid.UUID) -> dict[uuid.UUID, Location]:
    return {loc.id: loc for loc in locations(organization_id)}
