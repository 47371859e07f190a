"""Load one provider's engine inputs from the database, scoped by organization."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import (
    OCCUPYING_STATUSES,
    AppointmentType,
    AvailabilityException,
    AvailabilityRule,
    Booking,
    ExternalBusyTime,
    Location,
    Provider,
    Room,
    TimeOff,
    appointment_type_providers,
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
               Booking.room_id, Booking.status, Booking.hold_expires_at, Booking.provider_id,
               Booking.organization_id)
        .where(*where).order_by(Booking.block_start_at, Booking.id)
    ).all()


def used_rooms(rules, extra_windows, types) -> set[uuid.UUID]:
    """The rooms a provider's slots can take: their windows' rooms and their types' default rooms."""
    rooms = {r.room_id for r in rules} | {w.room_id for w in extra_windows} | {spec.default_room_id for _, spec in types}
    return rooms - {None}


def load(provider: Provider, first_day: date, last_day: date,
         exclude_booking_id: uuid.UUID | None = None) -> ProviderInputs:
    """One provider's engine inputs on local dates first_day..last_day."""
    return load_many([provider], first_day, last_day, exclude_booking_id)[provider.id]


def load_many(providers: Sequence[Provider], first_day: date, last_day: date,
              exclude_booking_id: uuid.UUID | None = None) -> dict[uuid.UUID, ProviderInputs]:
    """The engine inputs of several providers: one query per kind of input for all of them
    (reconcile loads a batch of providers at once; one query per provider and kind cost
    ~0.7 s of a 100-provider run). Every row is matched to its provider AND organization,
    so a batch spanning organizations never mixes them."""
    if not providers:
        return {}
    ids = [p.id for p in providers]
    orgs = sorted({p.organization_id for p in providers}, key=str)
    start, end = day_bounds(first_day, last_day)
    locations = {loc.id: loc for loc in db.session.scalars(select(Location).where(Location.organization_id.in_(orgs)))}
    rooms: dict[uuid.UUID, dict] = {org: {} for org in orgs}
    for room_id, org, capacity in db.session.execute(
            select(Room.id, Room.organization_id, Room.capacity).where(Room.organization_id.in_(orgs))):
        rooms[org][room_id] = capacity
    seats = {(org, kind_id): count for kind_id, org, count in db.session.execute(
        select(AppointmentType.id, AppointmentType.organization_id, AppointmentType.seats)
        .where(AppointmentType.organization_id.in_(orgs)))}
    rules = _by_provider(db.session.scalars(
        select(AvailabilityRule).options(selectinload(AvailabilityRule.breaks))
        .where(AvailabilityRule.organization_id.in_(orgs), AvailabilityRule.provider_id.in_(ids))
        .order_by(AvailabilityRule.id)))
    exceptions = _by_provider(db.session.scalars(
        select(AvailabilityException).where(
            AvailabilityException.organization_id.in_(orgs), AvailabilityException.provider_id.in_(ids),
            AvailabilityException.start_at < end, AvailabilityException.end_at > start,
        ).order_by(AvailabilityException.start_at, AvailabilityException.id)))
    time_off = _by_provider(db.session.scalars(select(TimeOff).where(
        TimeOff.organization_id.in_(orgs), TimeOff.provider_id.in_(ids), TimeOff.status == "approved",
        TimeOff.start_at < end, TimeOff.end_at > start,
    ).order_by(TimeOff.start_at, TimeOff.id)))
    live = (Booking.organization_id.in_(orgs), Booking.status.in_(OCCUPYING_STATUSES),
            Booking.block_start_at < end, Booking.block_end_at > start,
            Booking.id != exclude_booking_id if exclude_booking_id else Booking.id.isnot(None))
    own_bookings = _by_provider(_booking_rows(*live, Booking.provider_id.in_(ids)))
    busy = _by_provider(db.session.scalars(select(ExternalBusyTime).where(
        ExternalBusyTime.organization_id.in_(orgs), ExternalBusyTime.provider_id.in_(ids),
        ExternalBusyTime.start_at < end, ExternalBusyTime.end_at > start,
    ).order_by(ExternalBusyTime.start_at, ExternalBusyTime.id)))
    types: dict[uuid.UUID, list] = {}
    for kind, provider_id in db.session.execute(
            select(AppointmentType, appointment_type_providers.c.provider_id)
            .join(appointment_type_providers, appointment_type_providers.c.appointment_type_id == AppointmentType.id)
            .where(AppointmentType.organization_id.in_(orgs), AppointmentType.is_active,
                   appointment_type_providers.c.provider_id.in_(ids))
            .order_by(AppointmentType.id)):
        types.setdefault(provider_id, []).append(kind)

    parts = {}
    for provider in providers:
        org_id = provider.organization_id

        def mine(rows, org_id=org_id, provider_id=provider.id):
            return [row for row in rows.get(provider_id, ()) if row.organization_id == org_id]

        here = {loc_id: loc for loc_id, loc in locations.items() if loc.organization_id == org_id}
        provider_rules = tuple(
            WeeklyRule(
                weekdays=frozenset(rule.weekdays), start=rule.start_time, end=rule.end_time,
                timezone=here[rule.location_id].timezone, location_id=rule.location_id, room_id=rule.room_id,
                valid_from=rule.valid_from, valid_to=rule.valid_to, parallel_sessions=rule.parallel_sessions,
                breaks=tuple((b.start_time, b.end_time) for b in rule.breaks), priority=rule.priority,
            )
            for rule in mine(rules)
            if rule.location_id in here and here[rule.location_id].is_active
        )
        provider_exceptions = mine(exceptions)
        default_location = provider.locations[0] if provider.locations else None
        extra = []
        for item in provider_exceptions:
            if item.status != "available":
                continue
            location = here.get(item.location_id) if item.location_id else default_location
            if location is None:
                continue
            extra.append(AvailableWindow(start=item.start_at, end=item.end_at, location_id=location.id,
                                         timezone=location.timezone, room_id=item.room_id,
                                         appointment_type_id=item.appointment_type_id))
        blocked = [
            BlockedInterval(start=item.start_at, end=item.end_at, appointment_type_id=item.appointment_type_id,
                            location_id=item.location_id)
            for item in provider_exceptions if item.status == "blocked"
        ]
        blocked += [BlockedInterval(start=off.start_at, end=off.end_at) for off in mine(time_off)]
        occupancy = [
            Occupancy(start=row.block_start_at, end=row.block_end_at, appointment_type_id=row.appointment_type_id,
                      session_start=row.start_at, room_id=row.room_id, status=row.status,
                      expires_at=row.hold_expires_at, group=seats.get((org_id, row.appointment_type_id), 1) > 1)
            for row in mine(own_bookings)
        ]
        provider_types = tuple((kind, spec_of(kind)) for kind in types.get(provider.id, ())
                               if kind.organization_id == org_id)
        parts[provider.id] = (provider_rules, extra, blocked, occupancy, provider_types, mine(busy),
                              used_rooms(provider_rules, extra, provider_types))

    # Rooms are shared: other providers' bookings there take the room's places.
    shared = set().union(*(part[-1] for part in parts.values()))
    room_bookings = _booking_rows(*live, Booking.room_id.in_(sorted(shared, key=str))) if shared else []
    loaded: dict[uuid.UUID, ProviderInputs] = {}
    for provider in providers:
        org_id = provider.organization_id
        provider_rules, extra, blocked, occupancy, provider_types, provider_busy, rooms_used = parts[provider.id]
        occupancy += [
            Occupancy(start=row.block_start_at, end=row.block_end_at, appointment_type_id=row.appointment_type_id,
                      session_start=row.start_at, room_id=row.room_id, status=row.status,
                      expires_at=row.hold_expires_at, room_only=True)
            for row in room_bookings
            if row.room_id in rooms_used and row.provider_id != provider.id and row.organization_id == org_id
        ]
        occupancy += [Occupancy(start=item.start_at, end=item.end_at, external=True) for item in provider_busy]
        loaded[provider.id] = ProviderInputs(
            provider_id=provider.id, organization_id=org_id, rules=provider_rules, extra_windows=tuple(extra),
            blocked=tuple(blocked), occupancy=tuple(occupancy), room_capacities=rooms[org_id],
            types=provider_types,
            zones=frozenset(r.timezone for r in provider_rules) | frozenset(w.timezone for w in extra),
        )
    return loaded


def _by_provider(rows) -> dict:
    """Rows grouped by their provider_id, each group in the query's order."""
    grouped: dict = {}
    for row in rows:
        grouped.setdefault(row.provider_id, []).append(row)
    return grouped
