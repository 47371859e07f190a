"""Load one provider's engine inputs from the database, scoped by organization.

A hold runs the engine twice in one transaction: once to check its start (`check.slot_at`)
and once, just before commit, to rewrite the touched provider-days (`materialize`). Between
the two only bookings change, so inside `reusing_static_inputs()` the inputs that are not
bookings (hours, exceptions, time off, types, rooms, busy times) are read once per
transaction and the bookings are read afresh each time. Any flush of those other rows, a
commit and a rollback forget them. See docs/performance.md.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import event, select
from sqlalchemy.orm import Session, selectinload

from app.extensions import db
from app.models import (
    OCCUPYING_STATUSES,
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
from app.scheduling.types import AppointmentSpec, AvailableWindow, BlockedInterval, Occupancy, WeeklyRule


@dataclass(frozen=True)
class ProviderInputs:
    provider_id: uuid.UUID
    organization_id: uuid.UUID
    rules: tuple[WeeklyRule, ...]
    extra_windows: tuple[AvailableWindow, ...]
    blocked: tuple[BlockedInterval, ...]
    occupancy: tuple[Occupancy, ...]
    room_capacities: dict
    types: tuple[tuple[AppointmentType, AppointmentSpec], ...]
    zones: frozenset[str]


def spec_of(kind: AppointmentType) -> AppointmentSpec:
    return AppointmentSpec(
        id=kind.id, duration_minutes=kind.duration_minutes, buffer_before_minutes=kind.buffer_before_minutes,
        buffer_after_minutes=kind.buffer_after_minutes, slot_interval_minutes=kind.slot_interval_minutes,
        seats=kind.seats, min_notice_minutes=kind.min_notice_minutes, max_future_days=kind.max_future_days,
        default_room_id=kind.default_room_id,
    )


def day_bounds(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """UTC instants safely covering these local dates in any zone, overnight windows and buffers included."""
    start = datetime.combine(first_day - timedelta(days=2), time(0), tzinfo=timezone.utc)
    end = datetime.combine(last_day + timedelta(days=3), time(0), tzinfo=timezone.utc)
    return start, end


def _booking_rows(*where):
    """The columns the engine needs of the matching bookings: plain rows, no ORM objects
    (and no decryption of the personal data a Booking carries)."""
    return db.session.execute(
        select(Booking.block_start_at, Booking.block_end_at, Booking.appointment_type_id, Booking.start_at,
               Booking.room_id, Booking.status, Booking.hold_expires_at)
        .where(*where).order_by(Booking.block_start_at, Booking.id)
    ).all()


def used_rooms(rules, extra_windows, types) -> set[uuid.UUID]:
    """The rooms a provider's slots can take: their windows' rooms and their types' default rooms."""
    rooms = {r.room_id for r in rules} | {w.room_id for w in extra_windows} | {spec.default_room_id for _, spec in types}
    return rooms - {None}


_REUSE = "bookwell_reuse_static_inputs"
_MEMO = "bookwell_static_inputs"
_STATIC_ROWS = (AvailabilityRule, AvailabilityBreak, AvailabilityException, TimeOff, ExternalBusyTime, Location,
                Room, AppointmentType, Provider)


@contextmanager
def reusing_static_inputs() -> Iterator[None]:
    """Within this block (around a write transaction whose only changes are bookings), read
    the provider's non-booking inputs once per transaction."""
    session = db.session()
    session.info[_REUSE] = True
    try:
        yield
    finally:
        session.info.pop(_REUSE, None)
        session.info.pop(_MEMO, None)


@event.listens_for(Session, "after_flush")
def _forget_on_change(session: Session, _context) -> None:
    if _MEMO in session.info and any(isinstance(obj, _STATIC_ROWS)
                                     for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(_MEMO, None)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_MEMO, None)


@dataclass(frozen=True)
class _Static:
    """Everything of a provider's inputs but its bookings."""

    rules: tuple[WeeklyRule, ...]
    extra: tuple[AvailableWindow, ...]
    blocked: tuple[BlockedInterval, ...]
    busy: tuple[Occupancy, ...]
    rooms: dict
    seats: dict
    types: tuple[tuple[AppointmentType, AppointmentSpec], ...]


def load(provider: Provider, first_day: date, last_day: date,
         exclude_booking_id: uuid.UUID | None = None) -> ProviderInputs:
    org_id = provider.organization_id
    start, end = day_bounds(first_day, last_day)
    session = db.session()
    static = None
    if session.info.get(_REUSE):
        memo = session.info.setdefault(_MEMO, {})
        static = memo.get((provider.id, start, end))
        if static is None:
            static = memo[(provider.id, start, end)] = _load_static(provider, org_id, start, end)
    else:
        static = _load_static(provider, org_id, start, end)
    seats = static.seats
    live = (Booking.organization_id == org_id, Booking.status.in_(OCCUPYING_STATUSES),
            Booking.block_start_at < end, Booking.block_end_at > start,
            Booking.id != exclude_booking_id if exclude_booking_id else Booking.id.isnot(None))
    occupancy = [
        Occupancy(start=row.block_start_at, end=row.block_end_at, appointment_type_id=row.appointment_type_id,
                  session_start=row.start_at, room_id=row.room_id, status=row.status, expires_at=row.hold_expires_at,
                  group=seats.get(row.appointment_type_id, 1) > 1)
        for row in _booking_rows(*live, Booking.provider_id == provider.id)
    ]
    shared_rooms = used_rooms(static.rules, static.extra, static.types)
    if shared_rooms:  # rooms are shared: other providers' bookings there take the room's places
        occupancy += [
            Occupancy(start=row.block_start_at, end=row.block_end_at, appointment_type_id=row.appointment_type_id,
                      session_start=row.start_at, room_id=row.room_id, status=row.status,
                      expires_at=row.hold_expires_at, room_only=True)
            for row in _booking_rows(*live, Booking.provider_id != provider.id,
                                     Booking.room_id.in_(sorted(shared_rooms, key=str)))
        ]
    occupancy += static.busy
    return ProviderInputs(
        provider_id=provider.id, organization_id=org_id, rules=static.rules, extra_windows=static.extra,
        blocked=static.blocked, occupancy=tuple(occupancy), room_capacities=static.rooms, types=static.types,
        zones=frozenset(r.timezone for r in static.rules) | frozenset(w.timezone for w in static.extra),
    )


def _load_static(provider: Provider, org_id: uuid.UUID, start: datetime, end: datetime) -> _Static:
    locations = {loc.id: loc for loc in db.session.scalars(select(Location).where(Location.organization_id == org_id))}
    rooms = {room.id: room.capacity for room in db.session.scalars(select(Room).where(Room.organization_id == org_id))}

    rules = tuple(
        WeeklyRule(
            weekdays=frozenset(rule.weekdays), start=rule.start_time, end=rule.end_time,
            timezone=locations[rule.location_id].timezone, location_id=rule.location_id, room_id=rule.room_id,
            valid_from=rule.valid_from, valid_to=rule.valid_to, parallel_sessions=rule.parallel_sessions,
            breaks=tuple((b.start_time, b.end_time) for b in rule.breaks), priority=rule.priority,
        )
        for rule in db.session.scalars(
            select(AvailabilityRule).options(selectinload(AvailabilityRule.breaks))
            .where(AvailabilityRule.organization_id == org_id, AvailabilityRule.provider_id == provider.id)
            .order_by(AvailabilityRule.id)
        )
        if rule.location_id in locations and locations[rule.location_id].is_active
    )
    exceptions = list(db.session.scalars(
        select(AvailabilityException).where(
            AvailabilityException.organization_id == org_id, AvailabilityException.provider_id == provider.id,
            AvailabilityException.start_at < end, AvailabilityException.end_at > start,
        ).order_by(AvailabilityException.start_at, AvailabilityException.id)
    ))
    extra = []
    for item in exceptions:
        if item.status != "available":
            continue
        # (the provider's locations are loaded only for a window that names none)
        location = locations.get(item.location_id) if item.location_id else (
            provider.locations[0] if provider.locations else None)
        if location is None:
            continue
        extra.append(AvailableWindow(start=item.start_at, end=item.end_at, location_id=location.id,
                                     timezone=location.timezone, room_id=item.room_id,
                                     appointment_type_id=item.appointment_type_id))
    blocked = [
        BlockedInterval(start=item.start_at, end=item.end_at, appointment_type_id=item.appointment_type_id,
                        location_id=item.location_id)
        for item in exceptions if item.status == "blocked"
    ]
    blocked += [
        BlockedInterval(start=off.start_at, end=off.end_at)
        for off in db.session.scalars(select(TimeOff).where(
            TimeOff.organization_id == org_id, TimeOff.provider_id == provider.id, TimeOff.status == "approved",
            TimeOff.start_at < end, TimeOff.end_at > start,
        ).order_by(TimeOff.start_at, TimeOff.id))
    ]
    seats = dict(db.session.execute(select(AppointmentType.id, AppointmentType.seats)
                                    .where(AppointmentType.organization_id == org_id)).all())
    types = tuple(
        (kind, spec_of(kind))
        for kind in db.session.scalars(
            select(AppointmentType).join(AppointmentType.providers)
            .where(AppointmentType.organization_id == org_id, AppointmentType.is_active, Provider.id == provider.id)
            .order_by(AppointmentType.id)
        )
    )
    busy = tuple(
        Occupancy(start=busy.start_at, end=busy.end_at, external=True)
        for busy in db.session.scalars(select(ExternalBusyTime).where(
            ExternalBusyTime.organization_id == org_id, ExternalBusyTime.provider_id == provider.id,
            ExternalBusyTime.start_at < end, ExternalBusyTime.end_at > start,
        ).order_by(ExternalBusyTime.start_at, ExternalBusyTime.id))
    )
    return _Static(rules=rules, extra=tuple(extra), blocked=tuple(blocked), busy=busy, rooms=rooms, seats=seats,
                   types=types)
