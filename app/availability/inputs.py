"""Load providers' engine inputs from the database, scoped by organization.

Reconcile loads a batch of providers at once (`load_many`: one query per kind of input for
all of them); a hold or a read loads one (`load`).

A hold runs the engine twice in one transaction: once to check its start (`check.slot_at`)
and once, just before commit, to rewrite the touched provider-days (`materialize`). Between
the two only bookings change, so inside `reusing_static_inputs()` the inputs that are not
bookings (hours, exceptions, time off, types, rooms, busy times) are read once per
transaction and the bookings are read afresh each time. Any flush of those other rows, a
commit and a rollback forget them. Across transactions they are kept while the database's
input version is unchanged (app/availability/static_cache.py). See docs/performance.md.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from typing import NamedTuple

from sqlalchemy import and_, bindparam, event, select
from sqlalchemy.orm import Session, selectinload

from app.database import core_execute
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
    appointment_type_providers,
    provider_locations,
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
    types: tuple[tuple[TypeRef, AppointmentSpec], ...]
    zones: frozenset[str]


@dataclass(frozen=True)
class TypeRef:
    """The visit type an engine input is for: its ids, not the ORM object (inputs are kept
    across requests and threads, app/availability/static_cache.py)."""

    id: uuid.UUID
    organization_id: uuid.UUID


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


_BOOKING_COLUMNS = (Booking.block_start_at, Booking.block_end_at, Booking.appointment_type_id, Booking.start_at,
                    Booking.room_id, Booking.status, Booking.hold_expires_at, Booking.provider_id,
                    Booking.organization_id)


@cache
def _live_bookings(owner: str, excluding: bool):
    """The columns the engine needs of the live bookings of some providers (`owner`
    "provider") or rooms ("room") in a window: plain rows, no ORM objects (and no decryption
    of the personal data a Booking carries). Built once: building a statement and its cache
    key cost more than running it (docs/performance.md)."""
    column = Booking.provider_id if owner == "provider" else Booking.room_id
    query = select(*_BOOKING_COLUMNS).where(
        Booking.organization_id.in_(bindparam("orgs", expanding=True)), Booking.status.in_(OCCUPYING_STATUSES),
        Booking.block_start_at < bindparam("end"), Booking.block_end_at > bindparam("start"),
        column.in_(bindparam("owners", expanding=True)))
    if excluding:
        query = query.where(Booking.id != bindparam("exclude"))
    return query.order_by(Booking.block_start_at, Booking.id)


def used_rooms(rules, extra_windows, types) -> set[uuid.UUID]:
    """The rooms a provider's slots can take: their windows' rooms and their types' default rooms."""
    rooms = {r.room_id for r in rules} | {w.room_id for w in extra_windows} | {spec.default_room_id for _, spec in types}
    return rooms - {None}


_REUSE = "bookwell_reuse_static_inputs"
_MEMO = "bookwell_static_inputs"
_STATIC_ROWS = (AvailabilityRule, AvailabilityBreak, AvailabilityException, TimeOff, ExternalBusyTime, Location,
                Room, AppointmentType, Provider)


def reusing(session: Session) -> bool:
    """Whether this session is inside `reusing_static_inputs()`."""
    return bool(session.info.get(_REUSE))


def transaction_memo(session: Session) -> dict:
    """What this transaction has read of the non-booking inputs (forgotten with them)."""
    return session.info.setdefault(_MEMO, {})


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
    memo = session.info.get(_MEMO)
    if memo is None:
        return
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, _STATIC_ROWS) for obj in changed):
        session.info.pop(_MEMO, None)
    elif any(isinstance(obj, Booking) for obj in changed):
        _follow_new_bookings(memo, session)


@dataclass(frozen=True)
class _Live:
    """The live bookings a load read (its rows, as `_live_bookings` selects them)."""

    organization_id: uuid.UUID
    provider_id: uuid.UUID
    start: datetime
    end: datetime
    rooms: frozenset  # whose bookings count as the room's
    own: list
    in_rooms: list


class _Row(NamedTuple):  # a booking flushed in this transaction, as a `_live_bookings` row
    block_start_at: datetime
    block_end_at: datetime
    appointment_type_id: uuid.UUID
    start_at: datetime
    room_id: uuid.UUID | None
    status: str
    hold_expires_at: datetime | None
    provider_id: uuid.UUID
    organization_id: uuid.UUID


def _follow_new_bookings(memo: dict, session: Session) -> None:
    """Bookings read in this transaction stay valid while the only change is new bookings
    (a hold's own): those are added where the query would have found them, so the slot
    refresh before commit needs no second read. Any other change of a booking forgets them."""
    if any(isinstance(obj, Booking) for obj in (*session.dirty, *session.deleted)):
        for key in [key for key in memo if key[0] == "bookings"]:
            del memo[key]
        return
    new = [obj for obj in session.new if isinstance(obj, Booking) and obj.status in OCCUPYING_STATUSES]
    for key, live in memo.items():
        if key[0] != "bookings":
            continue
        for booking in new:
            if (booking.organization_id != live.organization_id or booking.block_start_at >= live.end
                    or booking.block_end_at <= live.start):
                continue
            row = _Row(booking.block_start_at, booking.block_end_at, booking.appointment_type_id, booking.start_at,
                       booking.room_id, booking.status, booking.hold_expires_at, booking.provider_id,
                       booking.organization_id)
            if booking.provider_id == live.provider_id:
                live.own.append(row)
            if booking.room_id in live.rooms:
                live.in_rooms.append(row)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_MEMO, None)


@dataclass(frozen=True)
class Static:
    """Everything of one provider's inputs but bookings."""

    rules: tuple[WeeklyRule, ...]
    extra: tuple[AvailableWindow, ...]
    blocked: tuple[BlockedInterval, ...]
    busy: tuple[Occupancy, ...]
    rooms: dict
    seats: dict
    types: tuple[tuple[TypeRef, AppointmentSpec], ...]
    rooms_used: frozenset


def load(provider: Provider, first_day: date, last_day: date,
         exclude_booking_id: uuid.UUID | None = None) -> ProviderInputs:
    """One provider's engine inputs on local dates first_day..last_day."""
    start, end = day_bounds(first_day, last_day)
    session = db.session()
    if not reusing(session):
        return _with_bookings([provider], load_static([provider], start, end), start, end,
                              exclude_booking_id)[provider.id]
    from app.availability import static_cache

    memo = transaction_memo(session)
    key = (provider.id, start, end)
    if key not in memo:
        memo[key] = static_cache.static_for(provider, start, end)
    static = {provider.id: memo[key]}
    live_key = ("bookings", provider.id, start, end, exclude_booking_id)
    if live_key not in memo:
        own, in_rooms = _live_rows([provider], static, start, end, exclude_booking_id)
        memo[live_key] = _Live(provider.organization_id, provider.id, start, end, memo[key].rooms_used,
                               list(own.get(provider.id, ())), in_rooms)
    live = memo[live_key]
    return _with_bookings([provider], static, start, end, exclude_booking_id,
                          rows=({provider.id: live.own}, live.in_rooms))[provider.id]


def load_many(providers: Sequence[Provider], first_day: date, last_day: date,
              exclude_booking_id: uuid.UUID | None = None) -> dict[uuid.UUID, ProviderInputs]:
    """The engine inputs of several providers: one query per kind of input for all of them
    (reconcile loads a batch of providers at once; one query per provider and kind cost
    ~0.7 s of a 100-provider run). Every row is matched to its provider AND organization,
    so a batch spanning organizations never mixes them."""
    if not providers:
        return {}
    start, end = day_bounds(first_day, last_day)
    return _with_bookings(providers, load_static(providers, start, end), start, end, exclude_booking_id)


_ORGS, _IDS = bindparam("orgs", expanding=True), bindparam("ids", expanding=True)
_START, _END = bindparam("start"), bindparam("end")
# The non-booking inputs' statements, built once (see `_live_bookings`).
_LOCATIONS = select(Location).where(Location.organization_id.in_(_ORGS))
_ROOMS = select(Room.id, Room.organization_id, Room.capacity).where(Room.organization_id.in_(_ORGS))
_SEATS = (select(AppointmentType.id, AppointmentType.organization_id, AppointmentType.seats)
          .where(AppointmentType.organization_id.in_(_ORGS)))
# The rules that count: only at a location the provider works at today. Taking a location off a
# provider stops its hours there without deleting them (they count again if it comes back);
# the page of weekly hours, the agenda grid and the finder read the same statement.
RULES = (select(AvailabilityRule).options(selectinload(AvailabilityRule.breaks))
         .join(provider_locations, and_(provider_locations.c.provider_id == AvailabilityRule.provider_id,
                                        provider_locations.c.location_id == AvailabilityRule.location_id))
         .where(AvailabilityRule.organization_id.in_(_ORGS), AvailabilityRule.provider_id.in_(_IDS))
         .order_by(AvailabilityRule.id))
_EXCEPTIONS = (select(AvailabilityException.provider_id, AvailabilityException.organization_id,
                      AvailabilityException.status, AvailabilityException.start_at, AvailabilityException.end_at,
                      AvailabilityException.location_id, AvailabilityException.room_id,
                      AvailabilityException.appointment_type_id)
               .where(AvailabilityException.organization_id.in_(_ORGS), AvailabilityException.provider_id.in_(_IDS),
                      AvailabilityException.start_at < _END, AvailabilityException.end_at > _START)
               .order_by(AvailabilityException.start_at, AvailabilityException.id))
_TIME_OFF = (select(TimeOff.provider_id, TimeOff.organization_id, TimeOff.start_at, TimeOff.end_at)
             .where(TimeOff.organization_id.in_(_ORGS), TimeOff.provider_id.in_(_IDS), TimeOff.status == "approved",
                    TimeOff.start_at < _END, TimeOff.end_at > _START)
             .order_by(TimeOff.start_at, TimeOff.id))
_BUSY = (select(ExternalBusyTime.provider_id, ExternalBusyTime.organization_id, ExternalBusyTime.start_at,
                ExternalBusyTime.end_at)
         .where(ExternalBusyTime.organization_id.in_(_ORGS), ExternalBusyTime.provider_id.in_(_IDS),
                ExternalBusyTime.start_at < _END, ExternalBusyTime.end_at > _START)
         .order_by(ExternalBusyTime.start_at, ExternalBusyTime.id))
_TYPES = (select(AppointmentType, appointment_type_providers.c.provider_id)
          .join(appointment_type_providers, appointment_type_providers.c.appointment_type_id == AppointmentType.id)
          .where(AppointmentType.organization_id.in_(_ORGS), AppointmentType.is_active,
                 appointment_type_providers.c.provider_id.in_(_IDS))
          .order_by(AppointmentType.id))


def load_static(providers: Sequence[Provider], start: datetime, end: datetime) -> dict[uuid.UUID, Static]:
    """Everything but bookings of these providers' inputs between two instants."""
    ids = [p.id for p in providers]
    orgs = sorted({p.organization_id for p in providers}, key=str)
    scope = {"orgs": orgs, "ids": ids, "start": start, "end": end}
    session = db.session
    locations = {loc.id: loc for loc in session.scalars(_LOCATIONS, {"orgs": orgs})}
    rooms: dict[uuid.UUID, dict] = {org: {} for org in orgs}
    for room_id, org, capacity in session.execute(_ROOMS, {"orgs": orgs}):
        rooms[org][room_id] = capacity
    seats: dict[uuid.UUID, dict] = {org: {} for org in orgs}
    for kind_id, org, count in session.execute(_SEATS, {"orgs": orgs}):
        seats[org][kind_id] = count
    rules = _by_provider(session.scalars(RULES, {"orgs": orgs, "ids": ids}))
    # Plain rows, not entities, for the inputs used as values only.
    exceptions = _by_provider(session.execute(_EXCEPTIONS, scope))
    time_off = _by_provider(session.execute(_TIME_OFF, scope))
    busy = _by_provider(session.execute(_BUSY, scope))
    types: dict[uuid.UUID, list] = {}
    for kind, provider_id in session.execute(_TYPES, {"orgs": orgs, "ids": ids}):
        types.setdefault(provider_id, []).append(kind)

    static = {}
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
        extra = []
        for item in provider_exceptions:
            if item.status != "available":
                continue
            # (the provider's locations are loaded only for a window that names none)
            location = here.get(item.location_id) if item.location_id else (
                provider.locations[0] if provider.locations else None)
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
        provider_types = tuple((TypeRef(kind.id, kind.organization_id), spec_of(kind))
                               for kind in types.get(provider.id, ()) if kind.organization_id == org_id)
        static[provider.id] = Static(
            rules=provider_rules, extra=tuple(extra), blocked=tuple(blocked),
            busy=tuple(Occupancy(start=item.start_at, end=item.end_at, external=True) for item in mine(busy)),
            rooms=rooms[org_id], seats=seats[org_id], types=provider_types,
            rooms_used=frozenset(used_rooms(provider_rules, extra, provider_types)))
    return static


def _live_rows(providers: Sequence[Provider], static: dict[uuid.UUID, Static], start: datetime, end: datetime,
               exclude_booking_id: uuid.UUID | None) -> tuple[dict, list]:
    """The live bookings of these providers (by provider) and of the rooms they use."""
    ids = [p.id for p in providers]
    orgs = sorted({p.organization_id for p in providers}, key=str)
    excluding = exclude_booking_id is not None
    window = {"orgs": orgs, "start": start, "end": end, **({"exclude": exclude_booking_id} if excluding else {})}
    own_bookings = _by_provider(core_execute(_live_bookings("provider", excluding), {**window, "owners": ids}))
    # Rooms are shared: other providers' bookings there take the room's places.
    shared = set().union(*(part.rooms_used for part in static.values()))
    room_bookings = core_execute(_live_bookings("room", excluding), {
        **window, "owners": sorted(shared, key=str)}).all() if shared else []
    return own_bookings, room_bookings


def _with_bookings(providers: Sequence[Provider], static: dict[uuid.UUID, Static], start: datetime, end: datetime,
                   exclude_booking_id: uuid.UUID | None, rows: tuple[dict, list] | None = None,
                   ) -> dict[uuid.UUID, ProviderInputs]:
    """Add the live bookings (read afresh, or `rows` read in this transaction) to each
    provider's other inputs."""
    own_bookings, room_bookings = rows if rows is not None else _live_rows(
        providers, static, start, end, exclude_booking_id)
    loaded: dict[uuid.UUID, ProviderInputs] = {}
    for provider in providers:
        org_id = provider.organization_id
        part = static[provider.id]
        occupancy = [
            Occupancy(start=row.block_start_at, end=row.block_end_at, appointment_type_id=row.appointment_type_id,
                      session_start=row.start_at, room_id=row.room_id, status=row.status,
                      expires_at=row.hold_expires_at, group=part.seats.get(row.appointment_type_id, 1) > 1)
            for row in own_bookings.get(provider.id, ()) if row.organization_id == org_id
        ]
        occupancy += [
            Occupancy(start=row.block_start_at, end=row.block_end_at, appointment_type_id=row.appointment_type_id,
                      session_start=row.start_at, room_id=row.room_id, status=row.status,
                      expires_at=row.hold_expires_at, room_only=True)
            for row in room_bookings
            if row.room_id in part.rooms_used and row.provider_id != provider.id and row.organization_id == org_id
        ]
        occupancy += part.busy
        loaded[provider.id] = ProviderInputs(
            provider_id=provider.id, organization_id=org_id, rules=part.rules, extra_windows=part.extra,
            blocked=part.blocked, occupancy=tuple(occupancy), room_capacities=part.rooms, types=part.types,
            zones=frozenset(r.timezone for r in part.rules) | frozenset(w.timezone for w in part.extra),
        )
    return loaded


def _by_provider(rows) -> dict:
    """Rows grouped by their provider_id, each group in the query's order."""
    grouped: dict = {}
    for row in rows:
        grouped.setdefault(row.provider_id, []).append(row)
    return grouped
