"""Every committed change that can move availability recomputes the affected
provider-days inside the same transaction (invariant 2).

After each flush we note which provider-days the flushed rows touch (old and
new values both: a moved booking frees its old time). Just before commit the
noted days are recomputed, so the slot rows commit with the change. Code that
changes rows with bulk SQL (conditional updates) calls `mark_days` itself.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from app.models import (
    AppointmentType,
    AvailabilityBreak,
    AvailabilityException,
    AvailabilityRule,
    Booking,
    ExternalBusyTime,
    Location,
    Provider,
    Room,
    TimeOff,
)

_KEY = "bookwell_dirty_provider_days"
_ZONES = "bookwell_provider_zones"  # cleared with every commit and rollback
_ROOMS = "bookwell_dirty_rooms"  # room_id -> instants: every provider using the room follows
EVERYTHING = (date.min, date.max)  # clipped to the horizon by the refresh
# The instants (old and new values) that say which provider-days a flushed row touches. Every
# dirty row is looked at, whatever changed (status, expiry...), so only the columns that place
# it in time belong here: a hold's expiry (now + 10 minutes) once dragged every day from today
# to the visit into each hold's recompute.
_INSTANT_ROWS = {
    Booking: ("block_start_at", "block_end_at"),
    AvailabilityException: ("start_at", "end_at", "status"),
    TimeOff: ("start_at", "end_at", "status"),
    ExternalBusyTime: ("start_at", "end_at"),
}


def mark_days(session: Session, provider_id: uuid.UUID, first_day: date, last_day: date) -> None:
    dirty: dict = session.info.setdefault(_KEY, {})
    low, high = dirty.get(provider_id, (first_day, last_day))
    dirty[provider_id] = (min(low, first_day), max(high, last_day))


def mark_instants(session: Session, provider_id: uuid.UUID, *instants: datetime | None) -> None:
    from app.availability.materialize import days_touching

    days = days_touching(instants, _zones(session, provider_id))
    if days:
        mark_days(session, provider_id, *days)


def _zones(session: Session, provider_id: uuid.UUID) -> frozenset[str]:
    """The zones the provider's windows can be in (its organization's locations), read once
    per transaction: they narrow a change to the provider-days it can really touch."""
    from app.availability.materialize import organization_zones

    cache: dict = session.info.setdefault(_ZONES, {})
    if provider_id not in cache:
        org_id = session.scalar(select(Provider.organization_id).where(Provider.id == provider_id))
        cache[provider_id] = organization_zones(org_id) if org_id else frozenset()
    return cache[provider_id]


def provider_zones(session: Session, provider: Provider) -> frozenset[str]:
    """`_zones` for a provider already loaded (the check of a hold, then its refresh, share it;
    a hold takes them from the inputs kept across requests, app/availability/static_cache.py)."""
    from app.availability import inputs, static_cache
    from app.availability.materialize import organization_zones

    cache: dict = session.info.setdefault(_ZONES, {})
    if provider.id not in cache:
        kept = static_cache.zones(provider) if inputs.reusing(session) else None
        cache[provider.id] = kept if kept is not None else organization_zones(provider.organization_id)
    return cache[provider.id]


def _instants(obj, fields) -> list[datetime]:
    state = inspect(obj)
    values = []
    for name in fields:
        history = state.attrs[name].history
        for value in (*history.added, *history.deleted, *history.unchanged):
            if isinstance(value, datetime):
                values.append(value)
    return values


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        kind = type(obj)
        if kind in _INSTANT_ROWS:
            provider_ids = {obj.provider_id, *inspect(obj).attrs.provider_id.history.deleted}
            instants = _instants(obj, ("start_at", "end_at", *_INSTANT_ROWS[kind]))
            for provider_id in provider_ids - {None}:
                mark_instants(session, provider_id, *instants)
            if kind is Booking:
                rooms = session.info.setdefault(_ROOMS, {})
                for room_id in {obj.room_id, *inspect(obj).attrs.room_id.history.deleted} - {None}:
                    rooms.setdefault(room_id, []).extend(instants)
        elif kind is AvailabilityRule:
            for provider_id in {obj.provider_id, *inspect(obj).attrs.provider_id.history.deleted} - {None}:
                mark_days(session, provider_id, *EVERYTHING)
        elif kind is AvailabilityBreak:
            rule = session.get(AvailabilityRule, obj.rule_id) if obj.rule_id else None
            if rule is not None:
                mark_days(session, rule.provider_id, *EVERYTHING)
        elif kind is Provider:
            mark_days(session, obj.id, *EVERYTHING)
        elif kind is AppointmentType:
            for provider in obj.providers:
                mark_days(session, provider.id, *EVERYTHING)
            session.info.setdefault("bookwell_type_changed", set()).add(obj.id)
        elif kind in (Location, Room):
            session.info.setdefault("bookwell_org_changed", set()).add(obj.organization_id)


@event.listens_for(Session, "before_commit")
def _recompute(session: Session) -> None:
    from app.availability.materialize import refresh_provider_days

    if session.info.pop("bookwell_skip_triggers", False):  # bulk loads that reconcile right after
        session.info.pop(_KEY, None)
        return
    session.flush()
    for org_id in session.info.pop("bookwell_org_changed", set()):
        for provider_id in session.scalars(select(Provider.id).where(Provider.organization_id == org_id)):
            mark_days(session, provider_id, *EVERYTHING)
    for type_id in session.info.pop("bookwell_type_changed", set()):
        _mark_type_rows(session, type_id)
    _mark_room_sharers(session, session.info.pop(_ROOMS, {}))
    rounds = 0
    while session.info.get(_KEY) and rounds < 3:  # a refresh never dirties other providers; bounded anyway
        dirty = session.info.pop(_KEY)
        for provider_id, (first_day, last_day) in sorted(dirty.items(), key=lambda item: str(item[0])):
            refresh_provider_days(provider_id, first_day, last_day)
        session.flush()
        rounds += 1


def _mark_type_rows(session: Session, type_id: uuid.UUID) -> None:
    """A type that lost a provider (or was deactivated) must drop that provider's slots too."""
    from app.models import AvailabilitySlot

    for provider_id in session.scalars(
        select(AvailabilitySlot.provider_id).where(AvailabilitySlot.appointment_type_id == type_id).distinct()
    ):
        mark_days(session, provider_id, *EVERYTHING)


def _mark_room_sharers(session: Session, rooms: dict) -> None:
    """A booking in a room changes the slots of every provider whose slots use that room."""
    from app.availability.rooms import providers_using

    for room_id, instants in sorted(rooms.items(), key=lambda item: str(item[0])):
        for provider_id in providers_using([room_id]):
            mark_instants(session, provider_id, *instants)


@event.listens_for(Session, "after_commit")
def _forget_zones(session: Session) -> None:
    session.info.pop(_ZONES, None)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    for key in (_KEY, _ROOMS, _ZONES, "bookwell_type_changed", "bookwell_org_changed"):
        session.info.pop(key, None)
