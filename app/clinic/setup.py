"""One function per configuration use case; each owns its transaction.

Inputs are already shaped (app/api/schemas.py); here we check what needs the
database or the time zone database, and write. Every error is a
BookwellError (422 with field details, or 404 for ids of another tenant).
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select

from app.accounts import valid_timezone
from app.clinic.rules import RuleShape, overlaps
from app.database import write_transaction
from app.scheduling.wallclock import window_end, window_start
from app.errors import BookwellError, not_found, validation_error
from app.extensions import db
from app.models import (
    OCCUPYING_STATUSES,
    AppointmentType,
    AvailabilityBreak,
    AvailabilityException,
    AvailabilityRule,
    Booking,
    Location,
    Provider,
    Room,
    TimeOff,
    User,
    utcnow,
    weekday_mask,
)

DATE_RANGE_PRIORITY = 10  # a date-range rule replaces the weekly template on its days


def _owned(model, org_id: uuid.UUID, row_id: uuid.UUID | None, what: str):
    row = db.session.get(model, row_id) if row_id else None
    if row is None or row.organization_id != org_id:
        raise not_found(what)
    return row


def _check_timezone(name: str, field: str = "timezone") -> None:
    if not valid_timezone(name):
        raise validation_error({field: f"'{name}' is not an IANA time zone (for example Europe/Berlin)."})


def create_location(org_id: uuid.UUID, *, name: str, timezone: str, address: str | None = None,
                    phone: str | None = None) -> Location:
    _check_timezone(timezone)
    with write_transaction():
        if db.session.scalars(select(Location).where(Location.organization_id == org_id, Location.name == name)).first():
            raise validation_error({"name": "A location with this name exists."})
        location = Location(organization_id=org_id, name=name, timezone=timezone, address=address, phone=phone)
        db.session.add(location)
    return location


def update_location(org_id: uuid.UUID, location_id: uuid.UUID, changes: dict[str, Any]) -> Location:
    if "timezone" in changes:
        _check_timezone(changes["timezone"])
    with write_transaction():
        location = _owned(Location, org_id, location_id, "location")
        if "name" in changes and db.session.scalars(select(Location).where(
                Location.organization_id == org_id, Location.name == changes["name"],
                Location.id != location_id)).first():
            raise validation_error({"name": "A location with this name exists."})
        for key, value in changes.items():
            setattr(location, key, value)
    return location


def create_room(org_id: uuid.UUID, *, location_id: uuid.UUID, name: str, capacity: int = 1,
                is_virtual: bool = False) -> Room:
    with write_transaction():
        _owned(Location, org_id, location_id, "location")
        if db.session.scalars(select(Room).where(Room.location_id == location_id, Room.name == name)).first():
            raise validation_error({"name": "This location already has a room with this name."})
        room = Room(organization_id=org_id, location_id=location_id, name=name, capacity=capacity,
                    is_virtual=is_virtual)
        db.session.add(room)
    return room


def _rows_of(model, org_id: uuid.UUID, ids: list[uuid.UUID], field: str, what: str) -> list:
    """The organization's rows for these ids, in order, each once; a foreign id is a field error."""
    found = []
    for index, row_id in enumerate(dict.fromkeys(ids)):
        row = db.session.get(model, row_id)
        if row is None or row.organization_id != org_id:
            raise validation_error({f"{field}.{index}": f"No such {what}."})
        found.append(row)
    return found


def _locations(org_id: uuid.UUID, ids: list[uuid.UUID]) -> list[Location]:
    return _rows_of(Location, org_id, ids, "location_ids", "location")


def create_provider(org_id: uuid.UUID, *, name: str, location_ids: list[uuid.UUID], timezone: str | None = None,
                    specialty: str | None = None, bio: str | None = None) -> Provider:
    if timezone is not None:
        _check_timezone(timezone)
    with write_transaction():
        locations = _locations(org_id, location_ids)
        provider = Provider(organization_id=org_id, display_name=name, specialty=specialty, bio=bio,
                            timezone=timezone or (locations[0].timezone if locations else "UTC"),
                            locations=locations)
        db.session.add(provider)
    return provider


def update_provider(org_id: uuid.UUID, provider_id: uuid.UUID, changes: dict[str, Any]) -> Provider:
    if "timezone" in changes:
        _check_timezone(changes["timezone"])
    with write_transaction():
        provider = _owned(Provider, org_id, provider_id, "provider")
        if "location_ids" in changes:
            provider.locations = _locations(org_id, changes.pop("location_ids"))
        if "name" in changes:
            provider.display_name = changes.pop("name")
        for key, value in changes.items():
            setattr(provider, key, value)
    return provider


def _providers(org_id: uuid.UUID, ids: list[uuid.UUID]) -> list[Provider]:
    return _rows_of(Provider, org_id, ids, "provider_ids", "provider")


def _type_fields(org_id: uuid.UUID, data: dict[str, Any]) -> dict[str, Any]:
    fields = dict(data)
    if "provider_ids" in fields:
        fields["providers"] = _providers(org_id, fields.pop("provider_ids"))
    if "location_id" in fields:
        location_id = fields.pop("location_id")
        if location_id is not None:
            _owned(Location, org_id, location_id, "location")
        fields["default_location_id"] = location_id
    if "room_id" in fields:
        room_id = fields.pop("room_id")
        if room_id is not None:
            _owned(Room, org_id, room_id, "room")
        fields["default_room_id"] = room_id
    return fields


def create_appointment_type(org_id: uuid.UUID, data: dict[str, Any]) -> AppointmentType:
    with write_transaction():
        kind = AppointmentType(organization_id=org_id, **_type_fields(org_id, data))
        db.session.add(kind)
    return kind


def update_appointment_type(org_id: uuid.UUID, type_id: uuid.UUID, changes: dict[str, Any]) -> AppointmentType:
    with write_transaction():
        kind = _owned(AppointmentType, org_id, type_id, "appointment type")
        for key, value in _type_fields(org_id, changes).items():
            setattr(kind, key, value)
    return kind


def break_inside(break_start: time, break_end: time, start: time, end: time) -> bool:
    """Whether a break lies inside its window and is not empty; either may run past midnight
    (an end at or before its start is on the next day, as for the hours themselves)."""
    def minutes(value: time) -> int:
        return value.hour * 60 + value.minute

    s, e = minutes(start), minutes(end)
    e += 1440 if e <= s else 0
    bs, be = minutes(break_start), minutes(break_end)
    if bs < s:  # after midnight, in hours that run past it
        bs, be = bs + 1440, be + 1440
    be += 1440 if be <= bs else 0
    return s <= bs < be <= e


def add_weekly_rule(org_id: uuid.UUID, *, kind: str, provider_id: uuid.UUID, location_id: uuid.UUID,
                    days_of_week: list[int], start_time: time, end_time: time,
                    breaks: list[tuple[time, time]], valid_from: date | None, valid_to: date | None,
                    parallel_sessions: int = 1, room_id: uuid.UUID | None = None,
                    priority: int | None = None) -> AvailabilityRule:
    """A weekly or date-range rule; overlapping windows of one provider are refused."""
    if priority is None:
        priority = DATE_RANGE_PRIORITY if kind == "date_range" else 0
    shape = RuleShape(frozenset(days_of_week), start_time, end_time, valid_from, valid_to, priority)
    for index, (break_start, break_end) in enumerate(breaks):
        if not break_inside(break_start, break_end, start_time, end_time):
            raise validation_error({f"breaks.{index}.start_time": "A break must lie inside the hours it interrupts."})
    with write_transaction():
        provider = _owned(Provider, org_id, provider_id, "provider")
        location = _owned(Location, org_id, location_id, "location")
        if location not in provider.locations:
            raise validation_error({"location_id": "This provider does not work at this location."})
        if room_id is not None and _owned(Room, org_id, room_id, "room").location_id != location.id:
            raise validation_error({"room_id": "This room is at another location."})
        for existing in db.session.scalars(select(AvailabilityRule).where(
                AvailabilityRule.organization_id == org_id, AvailabilityRule.provider_id == provider_id)):
            other = RuleShape(frozenset(existing.weekdays), existing.start_time, existing.end_time,
                              existing.valid_from, existing.valid_to, existing.priority)
            if overlaps(shape, other):
                raise validation_error(
                    {"days_of_week": "These hours overlap another rule of this provider on the same day.",
                     "start_time": "Overlaps an existing window."},
                    "Overlapping availability rules are not allowed.",
                )
        rule = AvailabilityRule(
            organization_id=org_id, kind=kind, provider_id=provider_id, location_id=location_id, room_id=room_id,
            weekday_mask=weekday_mask(days_of_week), start_time=start_time, end_time=end_time,
            valid_from=valid_from, valid_to=valid_to, parallel_sessions=parallel_sessions, priority=priority,
            breaks=[AvailabilityBreak(organization_id=org_id, start_time=a, end_time=b) for a, b in breaks],
        )
        db.session.add(rule)
    return rule


def local_span(day: date, start_time: time, end_time: time, tz: str) -> tuple[datetime, datetime]:
    """Wall-clock times on a local date to instants (an end at or before the start is the next day)."""
    zone = ZoneInfo(tz)
    end_day = day + timedelta(days=1) if end_time <= start_time else day
    return window_start(day, start_time, zone), window_end(end_day, end_time, zone)


def refuse_overlapping_exception(provider_id: uuid.UUID, status: str, spans: list[tuple[datetime, datetime]],
                                 field: str, excluding: uuid.UUID | None = None) -> None:
    """Two blocks (or two extra windows) of one provider over the same time are one too many:
    422 naming `field` (overlapping rules are refused, docs/api.md). A block over an extra
    window is how a window is cut, so only the same kind is compared."""
    if not spans:
        return
    query = select(AvailabilityException.id).where(
        AvailabilityException.provider_id == provider_id, AvailabilityException.status == status,
        or_(*[and_(AvailabilityException.start_at < end, AvailabilityException.end_at > start) for start, end in spans]))
    if excluding is not None:
        query = query.where(AvailabilityException.id != excluding)
    if db.session.execute(query.limit(1)).first() is not None:
        what = "block" if status == "blocked" else "extra opening"
        raise validation_error({field: f"This overlaps another {what} of this provider; change that one instead."})


def refuse_past(end_at: datetime, field: str, now: datetime | None = None) -> None:
    if end_at <= (now or utcnow()):
        raise validation_error({field: "This time is over already; the past is kept as it was."})


def add_exception(org_id: uuid.UUID, *, provider_id: uuid.UUID, status: str, start_at: datetime | None,
                  end_at: datetime | None, day: date | None = None, start_time: time | None = None,
                  end_time: time | None = None, location_id: uuid.UUID | None = None,
                  appointment_type_id: uuid.UUID | None = None, reason: str | None = None,
                  created_by_id: uuid.UUID | None = None) -> AvailabilityException:
    with write_transaction():
        provider = _owned(Provider, org_id, provider_id, "provider")
        location = _owned(Location, org_id, location_id, "location") if location_id else None
        if appointment_type_id:
            _owned(AppointmentType, org_id, appointment_type_id, "appointment type")
        end_field = "end_at"
        if start_at is None:
            zone_name = (location or (provider.locations[0] if provider.locations else None) or provider).timezone
            start_at, end_at = local_span(day, start_time, end_time, zone_name)
            end_field = "end_time"
        if end_at <= start_at:
            raise validation_error({end_field: "The end must be after the start (in local time this span is empty)."})
        refuse_past(end_at, end_field)
        refuse_overlapping_exception(provider_id, status, [(start_at, end_at)], "start_at" if
                                     end_field == "end_at" else "start_time")
        item = AvailabilityException(
            organization_id=org_id, provider_id=provider_id, status=status, start_at=start_at, end_at=end_at,
            location_id=location_id, appointment_type_id=appointment_type_id, reason=reason,
            created_by_id=created_by_id,
        )
        db.session.add(item)
    return item


def request_time_off(org_id: uuid.UUID, *, provider_id: uuid.UUID, start_at: datetime, end_at: datetime,
                     reason: str | None = None, requested_by_id: uuid.UUID | None = None) -> TimeOff:
    if end_at <= start_at:
        raise validation_error({"end_at": "The end must be after the start."})
    refuse_past(end_at, "end_at")
    with write_transaction():
        _owned(Provider, org_id, provider_id, "provider")
        taken = db.session.execute(select(TimeOff.start_at, TimeOff.end_at).where(
            TimeOff.provider_id == provider_id, TimeOff.status.in_(("pending", "approved")),
            TimeOff.start_at < end_at, TimeOff.end_at > start_at).limit(1)).first()
        if taken is not None:
            raise validation_error({"start_at": "This overlaps time off already asked for or approved; "
                                                "change that one instead."})
        item = TimeOff(organization_id=org_id, provider_id=provider_id, start_at=start_at, end_at=end_at,
                       reason=reason, requested_by_id=requested_by_id)
        db.session.add(item)
    return item


def decide_time_off(org_id: uuid.UUID, time_off_id: uuid.UUID, *, approve: bool,
                    decided_by: User | None = None) -> tuple[TimeOff, list[Booking]]:
    """Approve (blocks the time) or reject. Returns the live bookings the time off overlaps."""
    with write_transaction():
        item = _owned(TimeOff, org_id, time_off_id, "time off")
        if item.status != "pending":
            raise BookwellError(409, "INVALID_TRANSITION", f"This request is already {item.status}.")
        item.status = "approved" if approve else "rejected"
        item.decided_by_id = decided_by.id if decided_by else None
        item.decided_at = utcnow()
        from app.clinic.time_off import queue_decision_email

        queue_decision_email(item)  # the provider hears the decision (sent after commit)
        conflicts = list(db.session.scalars(select(Booking).where(
            Booking.organization_id == org_id, Booking.provider_id == item.provider_id,
            Booking.status.in_(OCCUPYING_STATUSES), Booking.start_at < item.end_at, Booking.end_at > item.start_at,
        ).order_by(Booking.start_at)))
    return item, conflicts
