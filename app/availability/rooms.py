"""Who uses which room: rooms are shared by every provider whose slots can take them
(docs/invariants.md, invariant 1). A provider's slots can take the rooms of its
weekly rules and extra windows, and the default rooms of the types it offers."""
from __future__ import annotations

import uuid
from collections.abc import Iterable

from functools import cache

from sqlalchemy import Select, bindparam, select, union

from app.database import core_execute
from app.extensions import db
from app.models import AppointmentType, AvailabilityException, AvailabilityRule
from app.models.appointment_type import appointment_type_providers


def _pairs() -> Select:
    """(provider_id, room_id) for every room a provider's slots can use."""
    links = appointment_type_providers.c
    return union(
        select(AvailabilityRule.provider_id, AvailabilityRule.room_id).where(AvailabilityRule.room_id.isnot(None)),
        select(AvailabilityException.provider_id, AvailabilityException.room_id).where(
            AvailabilityException.status == "available", AvailabilityException.room_id.isnot(None)),
        select(links.provider_id, AppointmentType.default_room_id)
        .join(AppointmentType, AppointmentType.id == links.appointment_type_id)
        .where(AppointmentType.default_room_id.isnot(None)),
    ).subquery()


@cache
def _rooms_of_statement() -> Select:
    pairs = _pairs()  # a union of three selects: built once, not per hold
    return select(pairs.c.room_id).where(pairs.c.provider_id.in_(bindparam("ids", expanding=True))).distinct()


def rooms_of(provider_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    ids = list(provider_ids)
    if not ids:
        return set()
    return set(core_execute(_rooms_of_statement(), {"ids": ids}).scalars())


def providers_using(room_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    ids = list(room_ids)
    if not ids:
        return set()
    pairs = _pairs()
    return set(db.session.scalars(select(pairs.c.provider_id).where(pairs.c.room_id.in_(ids)).distinct()))
