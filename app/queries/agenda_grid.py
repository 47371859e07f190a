"""The agenda grid's data: a provider's days, or one location's day with a column per
provider, read from the database and laid out by app/queries/time_grid.py."""
from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.availability import inputs
from app.extensions import db
from app.models import OCCUPYING_STATUSES, AvailabilityException, Booking, Location, Provider
from app.queries.agenda import AgendaItem, items, local_range
from app.queries.frontdesk import providers_at
from app.queries.time_grid import ColumnInput, Entry, Grid, Window, day_span, layout, range_label, span_label
from app.scheduling.engine import rule_windows, rule_windows_applies
from app.scheduling.types import WeeklyRule


def weekly_rules(organization_id: uuid.UUID, provider_ids: list[uuid.UUID],
                 locations: dict[uuid.UUID, Location]) -> dict[uuid.UUID, list[WeeklyRule]]:
    """The providers' weekly and date-range rules as the engine reads them (active locations the
    provider works at only)."""
    found: dict[uuid.UUID, list[WeeklyRule]] = defaultdict(list)
    for rule in db.session.scalars(inputs.RULES, {"orgs": [organization_id], "ids": list(provider_ids)}):
        place = locations.get(rule.location_id)
        if place is None or not place.is_active:
            continue
        found[rule.provider_id].append(WeeklyRule(
            weekdays=frozenset(rule.weekdays), start=rule.start_time, end=rule.end_time, timezone=place.timezone,
            location_id=rule.location_id, room_id=rule.room_id, valid_from=rule.valid_from,
            valid_to=rule.valid_to, parallel_sessions=rule.parallel_sessions,
            breaks=tuple((b.start_time, b.end_time) for b in rule.breaks), priority=rule.priority))
    return found


def working_time(rules: list[WeeklyRule], first_day: date, last_day: date
                 ) -> tuple[list[tuple[datetime, datetime, uuid.UUID]], list[tuple[datetime, datetime]]]:
    """Working windows (with their location) and breaks of the rule-days around first..last, as
    the engine sees them: on each date only the rules of the highest priority count."""
    windows, breaks = [], []
    day = first_day - timedelta(days=1)  # an overnight window of the day before reaches in
    while day <= last_day + timedelta(days=1):  # a zone ahead of the display zone
        applicable = [r for r in rules if rule_windows_applies(r, day)]
        top = max((r.priority for r in applicable), default=0)
        for rule in applicable:
            if rule.priority != top:
                continue
            pieces = rule_windows(rule, day)
            windows += [(s, e, rule.location_id) for s, e in pieces]
            for whole_start, whole_end in rule_windows(replace(rule, breaks=()), day):
                edges = [whole_start, *[x for piece in pieces for x in piece], whole_end]
                breaks += [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2) if edges[i + 1] > edges[i]]
        day += timedelta(days=1)
    return windows, breaks


def _extra_windows(organization_id: uuid.UUID, provider_id: uuid.UUID, start: datetime, end: datetime):
    return list(db.session.scalars(select(AvailabilityException).where(
        AvailabilityException.organization_id == organization_id, AvailabilityException.provider_id == provider_id,
        AvailabilityException.status == "available", AvailabilityException.start_at < end,
        AvailabilityException.end_at > start)))


def entries(found: list[AgendaItem], tz: ZoneInfo, now: datetime, location_id: uuid.UUID | None = None
            ) -> list[Entry]:
    """Agenda items as grid entries. Places of one group session become one entry; an expired
    hold is gone; with `location_id`, a visit elsewhere shows only as time away."""
    out: list[Entry] = []
    sessions: dict[tuple, list] = {}
    for item in found:
        booking = item.booking
        if item.kind == "booking":
            if location_id is not None and booking.location_id != location_id:
                out.append(Entry("away", booking.start_at, booking.end_at, f"At {booking.location.name}",
                                 block_start=booking.block_start_at, block_end=booking.block_end_at))
            elif booking.status == "held":
                if booking.hold_expires_at is not None and booking.hold_expires_at <= now:
                    continue
                out.append(Entry("hold", booking.start_at, booking.end_at, "On hold",
                                 f"{booking.appointment_type.name} · being booked", "held",
                                 booking.block_start_at, booking.block_end_at))
            elif booking.appointment_type.seats > 1:
                sessions.setdefault((booking.appointment_type_id, booking.start_at), []).append(booking)
            else:
                out.append(Entry("booking", booking.start_at, booking.end_at, booking.contact_name,
                                 booking.appointment_type.name, booking.status, booking.block_start_at,
                                 booking.block_end_at, booking))
        elif item.kind == "blocked":
            out.append(Entry("blocked", item.start, item.end, "Blocked",
                             "" if item.title == "Blocked" else item.title))
        elif item.kind == "time_off":
            pending = item.status == "pending"
            out.append(Entry("time_off_pending" if pending else "time_off", item.start, item.end,
                             "Time off requested" if pending else "Time off",
                             range_label(item.start, item.end, tz), item.status))
        elif item.kind == "busy":
            out.append(Entry("busy", item.start, item.end, "Busy", "other calendar"))
    for places in sessions.values():
        first = places[0]
        live = [b for b in places if b.status in ("pending", "confirmed", "completed")]
        names = ", ".join(b.contact_name for b in places)
        out.append(Entry("booking", first.start_at, first.end_at, first.appointment_type.name,
                         f"{len(live)} of {first.appointment_type.seats} places · {names}",
                         "confirmed" if any(b.status == "confirmed" for b in places) else first.status,
                         min(b.block_start_at for b in places), max(b.block_end_at for b in places), first))
    return out


def provider_grid(organization_id: uuid.UUID, provider: Provider, first_day: date, days: int,
                  now: datetime) -> Grid:
    """A provider's days side by side, in the provider's zone."""
    tz = ZoneInfo(provider.timezone)
    locations = {loc.id: loc for loc in db.session.scalars(
        select(Location).where(Location.organization_id == organization_id))}
    start, end = local_range(first_day, days, provider.timezone)
    windows, breaks = working_time(weekly_rules(organization_id, [provider.id], locations)[provider.id],
                                   first_day, first_day + timedelta(days=days - 1))
    several = len({loc for _, _, loc in windows}) > 1
    shifts = [Window(s, e, locations[loc].name if several else "") for s, e, loc in windows]
    shifts += [Window(x.start_at, x.end_at, "Extra hours", kind="extra")
               for x in _extra_windows(organization_id, provider.id, start, end)]
    found = entries(items(organization_id, provider.id, start, end), tz, now)
    columns = []
    for i in range(days):
        day = first_day + timedelta(days=i)
        day_start, day_end = day_span(day, tz)

        def touches(a: datetime, b: datetime) -> bool:
            return a < day_end and b > day_start

        columns.append(ColumnInput(
            key=day.isoformat(), title=day.strftime("%a %d" if days > 1 else "%A %d %B"), day=day,
            windows=tuple(w for w in shifts if touches(w.start, w.end)),
            breaks=tuple(b for b in breaks if touches(*b)),
            entries=tuple(e for e in found if touches(e.block_start or e.start, e.block_end or e.end))))
    return layout(columns, provider.timezone, now)


def location_grid(organization_id: uuid.UUID, place: Location, day: date, now: datetime) -> Grid:
    """One local day at one location: a column per provider who works there, on one axis in
    the location's zone. Free time here is bookable; time at another location is drawn as away."""
    tz = ZoneInfo(place.timezone)
    locations = {loc.id: loc for loc in db.session.scalars(
        select(Location).where(Location.organization_id == organization_id))}
    start, end = local_range(day, 1, place.timezone)
    people = providers_at(organization_id, place.id)
    rules = weekly_rules(organization_id, [p.id for p in people], locations)
    columns = []
    for person in people:
        windows, breaks = working_time(rules[person.id], day, day)
        shifts = [Window(s, e, "" if loc == place.id else f"At {locations[loc].name}", here=loc == place.id)
                  for s, e, loc in windows]
        shifts += [Window(x.start_at, x.end_at, "Extra hours", here=x.location_id in (None, place.id),
                          kind="extra") for x in _extra_windows(organization_id, person.id, start, end)]
        found = entries(items(organization_id, person.id, start, end), tz, now, location_id=place.id)
        booked = sum(1 for e in found if e.kind == "booking")
        columns.append(ColumnInput(key=str(person.id), title=person.display_name, day=day,
                                   subtitle=f"{person.specialty + ' · ' if person.specialty else ''}{booked} booked",
                                   windows=tuple(shifts), breaks=tuple(breaks), entries=tuple(found),
                                   bookable=(person.id, place.id)))
    return layout(columns, place.timezone, now)


def day_lists(organization_id: uuid.UUID, provider: Provider, first_day: date, days: int
              ) -> list[tuple[date, list[tuple[AgendaItem, str]]]]:
    """The list layout: each day with what touches it and its local times on that day (time off
    over several days appears on each, as 'All day', 'until 12:00' or 'from 14:00')."""
    tz = ZoneInfo(provider.timezone)
    start, end = local_range(first_day, days, provider.timezone)
    found = items(organization_id, provider.id, start, end)
    out = []
    for i in range(days):
        day = first_day + timedelta(days=i)
        day_start, day_end = day_span(day, tz)
        out.append((day, [(it, span_label(it.start, it.end, day_start, day_end, tz)) for it in found
                          if it.start < day_end and it.end > day_start]))
    return out


def visits_outside_hours(organization_id: uuid.UUID, provider_id: uuid.UUID, location_id: uuid.UUID,
                         now: datetime, limit: int = 500) -> list[Booking]:
    """The provider's coming pending or confirmed visits at the location that its hours (weekly
    and date-range rules, breaks cut out, plus extra openings) no longer cover: what a change
    of hours left behind (they stay booked; staff decide)."""
    visits = list(db.session.scalars(select(Booking).where(
        Booking.organization_id == organization_id, Booking.provider_id == provider_id,
        Booking.location_id == location_id, Booking.status.in_(set(OCCUPYING_STATUSES) - {"held"}),
        Booking.start_at > now).order_by(Booking.start_at).limit(limit)))
    if not visits:
        return []
    locations = {loc.id: loc for loc in db.session.scalars(
        select(Location).where(Location.organization_id == organization_id))}
    zone = ZoneInfo(locations[location_id].timezone)
    windows, _ = working_time(weekly_rules(organization_id, [provider_id], locations).get(provider_id, []),
                              visits[0].start_at.astimezone(zone).date(), visits[-1].end_at.astimezone(zone).date())
    spans = [(start, end) for start, end, place in windows if place == location_id]
    spans += [(x.start_at, x.end_at) for x in _extra_windows(organization_id, provider_id, visits[0].start_at,
                                                              visits[-1].end_at) if x.location_id in (None, location_id)]
    return [v for v in visits if not any(start <= v.start_at and v.end_at <= end for start, end in spans)]
