"""Helpers for the booking lifecycle tests: the demo clinic's ids and actors, Berlin
wall-clock times on working days ahead, snapshots that prove a refusal wrote
nothing, and checks of the audit trail and of the no-overbooking invariant.

Demo facts used (app/demo_seed.py): Dr. Anna Weber works Monday–Friday 08:00–16:00
Berlin with a 12:00–13:00 break and offers "General consultation" (30 min + 5 min
buffer after, 2 h notice, 24 h cancel notice, at most 2 reschedules). Jonas
Fischer works Monday/Wednesday/Friday 09:00–17:00 (break 12:30–13:30) and offers
"Physiotherapy session" (45 min, 5 min before, 10 min after, needs approval, 48 h
cancel notice) and the "Back-care group class" (60 min, six seats, hourly grid).
The seed books Weber on the next Tuesday 09:00, Fischer on the next Wednesday
10:00 and Friday 14:00 (physio) and Thursday 17:00 (group): tests stay clear of those.

Every function that touches the database expects an app context.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.accounts import find_user_by_email
from app.booking.actors import Actor
from app.demo_seed import DOMAIN
from app.extensions import db
from app.models import (
    BOOKING_STATUSES,
    OCCUPYING_STATUSES,
    AppointmentType,
    AvailabilitySlot,
    Booking,
    BookingEvent,
    Location,
    Organization,
    Provider,
    Room,
    utcnow,
)
from tests.slot_assertions import assert_slots_match_engine

BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class Clinic:
    """Ids of the demo clinic (plain values: safe to keep across transactions)."""

    organization_id: uuid.UUID
    berlin_id: uuid.UUID
    weber: uuid.UUID
    fischer: uuid.UUID
    chen: uuid.UUID
    consult: uuid.UUID  # General consultation (instant, one-to-one)
    physio: uuid.UUID  # Physiotherapy session (needs approval, one-to-one)
    group: uuid.UUID  # Back-care group class (six seats)
    video: uuid.UUID  # Video follow-up

    def actor(self, key: str) -> Actor:
        """The demo user `key` (admin, manager, frontdesk, weber, chen, fischer, patient, olivia)."""
        return Actor.of(find_user_by_email(f"{key}@{DOMAIN}"))

    def guest(self) -> Actor:
        return Actor.guest(self.organization_id)

    def system(self) -> Actor:
        return Actor.system(self.organization_id)


def load_clinic() -> Clinic:
    org = db.session.scalars(select(Organization).where(Organization.slug == "demo")).one()
    providers = {p.display_name.split()[-1].lower(): p.id for p in db.session.scalars(select(Provider))}
    types = {t.name: t.id for t in db.session.scalars(select(AppointmentType))}
    berlin = db.session.scalars(select(Location).where(Location.timezone == "Europe/Berlin")).one()
    return Clinic(
        organization_id=org.id, berlin_id=berlin.id, weber=providers["weber"], fischer=providers["fischer"],
        chen=providers["chen"], consult=types["General consultation"], physio=types["Physiotherapy session"],
        group=types["Back-care group class"], video=types["Video follow-up"],
    )


# --- time ---------------------------------------------------------------------------------------

def berlin_today() -> date:
    return utcnow().astimezone(BERLIN).date()


def day_ahead(iso_weekday: int, min_days: int = 3) -> date:
    """The first Berlin date with this ISO weekday at least `min_days` ahead (so 3–9 days
    ahead by default: inside the 14-day test horizon)."""
    day = berlin_today() + timedelta(days=min_days)
    while day.isoweekday() != iso_weekday:
        day += timedelta(days=1)
    return day


def at(day: date, hhmm: str) -> datetime:
    """Berlin wall-clock `hhmm` on `day`, as a UTC instant (the way bookings store it)."""
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=BERLIN).astimezone(timezone.utc)


def window() -> tuple[date, date]:
    """Days far enough ahead that the slots table and a fresh engine run agree on them."""
    today = utcnow().date()
    return today + timedelta(days=2), today + timedelta(days=14)


def assert_slots_true(*provider_ids: uuid.UUID) -> None:
    for provider_id in provider_ids:
        assert_slots_match_engine(provider_id, *window())


# --- reading back -------------------------------------------------------------------------------

def fresh(booking_id: uuid.UUID) -> Booking:
    """The booking as committed (not a stale identity-map copy)."""
    return db.session.scalars(select(Booking).where(Booking.id == booking_id)
                              .execution_options(populate_existing=True)).one()


def events_of(booking_id: uuid.UUID) -> list[BookingEvent]:
    return list(db.session.scalars(select(BookingEvent).where(BookingEvent.booking_id == booking_id)
                                   .order_by(BookingEvent.created_at, BookingEvent.id)
                                   .execution_options(populate_existing=True)))


def slot_row(provider_id: uuid.UUID, type_id: uuid.UUID, start: datetime) -> AvailabilitySlot | None:
    return db.session.scalars(select(AvailabilitySlot).where(
        AvailabilitySlot.provider_id == provider_id, AvailabilitySlot.appointment_type_id == type_id,
        AvailabilitySlot.start_at == start).execution_options(populate_existing=True)).first()


def is_open(provider_id: uuid.UUID, type_id: uuid.UUID, start: datetime) -> bool:
    """Whether the slots table offers this start to patients."""
    row = slot_row(provider_id, type_id, start)
    return row is not None and row.status in ("open", "partial")


def snapshot() -> dict:
    """Everything a booking change could touch: rows of bookings, booking_events and
    availability_slots, with the bookings' and slots' state. Equal before and after
    a refusal proves it wrote nothing."""
    bookings = db.session.execute(select(
        Booking.id, Booking.status, Booking.start_at, Booking.seat, Booking.reschedule_count,
        Booking.hold_expires_at, Booking.notes, Booking.cancelled_by)).all()
    slots = db.session.execute(select(
        AvailabilitySlot.provider_id, AvailabilitySlot.appointment_type_id, AvailabilitySlot.start_at,
        AvailabilitySlot.status, AvailabilitySlot.booked, AvailabilitySlot.held)).all()
    return {
        "bookings": sorted(map(tuple, bookings), key=str),
        "booking_events": db.session.scalar(select(func.count()).select_from(BookingEvent)),
        "availability_slots": sorted(map(tuple, slots), key=str),
    }


def row_counts() -> dict[str, int]:
    return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Booking, BookingEvent, AvailabilitySlot)}


# --- invariants ---------------------------------------------------------------------------------

def assert_event_chain(booking: Booking) -> list[BookingEvent]:
    """The audit trail starts from nothing, each event starts where the last one ended,
    and the last one ends in the booking's status."""
    trail = events_of(booking.id)
    assert trail, f"booking {booking.id} has no events"
    assert trail[0].from_status is None, [(e.action, e.from_status, e.to_status) for e in trail]
    for before, after in zip(trail, trail[1:]):
        assert after.from_status == before.to_status, [(e.action, e.from_status, e.to_status) for e in trail]
    assert trail[-1].to_status == booking.status, [(e.action, e.from_status, e.to_status) for e in trail]
    assert booking.status in BOOKING_STATUSES
    return trail


def live_bookings(provider_id: uuid.UUID, now: datetime) -> list[Booking]:
    """Bookings that occupy the provider at `now`: holds count only until they expire."""
    rows = db.session.scalars(select(Booking).where(
        Booking.provider_id == provider_id, Booking.status.in_(OCCUPYING_STATUSES))
        .execution_options(populate_existing=True))
    return [b for b in rows if not (b.status == "held" and b.hold_expires_at <= now)]


def assert_never_overbooked(provider_id: uuid.UUID, now: datetime) -> None:
    """Invariant 1 for one provider: two live bookings overlap (buffers included) only
    when they sit in the same session of a group type, and a session holds at most
    its type's seats."""
    seats = dict(db.session.execute(select(AppointmentType.id, AppointmentType.seats)).all())
    live = live_bookings(provider_id, now)

    def session_of(b: Booking):
        return (b.appointment_type_id, b.start_at) if seats[b.appointment_type_id] > 1 else b.id

    sessions: dict = {}
    for b in live:
        sessions.setdefault(session_of(b), []).append(b)
    for key, members in sessions.items():
        kind = members[0].appointment_type_id
        assert len(members) <= seats[kind], f"session {key} holds {len(members)} people, seats {seats[kind]}"
    for i, a in enumerate(live):
        for b in live[i + 1:]:
            if session_of(a) == session_of(b):
                continue
            overlap = a.block_start_at < b.block_end_at and b.block_start_at < a.block_end_at
            assert not overlap, (f"overbooked: {a.id} {a.status} {a.block_start_at}-{a.block_end_at} and "
                                 f"{b.id} {b.status} {b.block_start_at}-{b.block_end_at}")


def assert_room_never_overbooked(room_id: uuid.UUID, now: datetime) -> None:
    """Invariant 1 for one room: at no instant do more live bookings (of any provider,
    buffers included) sit in the room than it has places."""
    capacity = db.session.scalar(select(Room.capacity).where(Room.id == room_id))
    live = [b for b in db.session.scalars(select(Booking).where(
        Booking.room_id == room_id, Booking.status.in_(OCCUPYING_STATUSES)).execution_options(populate_existing=True))
        if not (b.status == "held" and b.hold_expires_at <= now)]
    for b in live:  # the most crowded instants are booking starts
        inside = [o for o in live if o.block_start_at <= b.block_start_at < o.block_end_at]
        assert len(inside) <= capacity, f"room {room_id} holds {len(inside)} at {b.block_start_at}, capacity {capacity}"
