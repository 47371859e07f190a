"""Which days of a finder's date strip have working hours at all, so a day without a free
time reads "closed" when nobody works then and "full" when everything is taken."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.availability.read_cache import note_valid_until, setup_memo
from app.extensions import db
from app.models import AvailabilityException, Location, Provider, TimeOff, utcnow
from app.queries.agenda_grid import weekly_rules, working_time
from app.queries.time_grid import day_span


def _covered(start: datetime, end: datetime, away: list[tuple[datetime, datetime]]) -> bool:
    return any(s <= start and e >= end for s, e in away)


def _windows(organization_id: uuid.UUID, providers: list[Provider], location_id: uuid.UUID | None,
             first: date, last: date, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The working windows of these providers (at this location) first..last that approved time
    off does not wholly take away."""
    ids = [p.id for p in providers]
    locations = {loc.id: loc for loc in db.session.scalars(
        select(Location).where(Location.organization_id == organization_id))}
    rules = weekly_rules(organization_id, ids, locations)
    start, end = day_span(first, tz)[0], day_span(last, tz)[1]
    extra = db.session.scalars(select(AvailabilityException).where(
        AvailabilityException.organization_id == organization_id, AvailabilityException.provider_id.in_(ids),
        AvailabilityException.status == "available", AvailabilityException.start_at < end,
        AvailabilityException.end_at > start))
    away: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {}
    for off in db.session.scalars(select(TimeOff).where(
            TimeOff.organization_id == organization_id, TimeOff.provider_id.in_(ids), TimeOff.status == "approved",
            TimeOff.start_at < end, TimeOff.end_at > start)):
        away.setdefault(off.provider_id, []).append((off.start_at, off.end_at))
    windows: list[tuple[datetime, datetime]] = []
    for provider in providers:
        found, _ = working_time(rules.get(provider.id, []), first, last)
        windows += [(s, e) for s, e, loc in found if location_id is None or loc == location_id
                    if not _covered(s, e, away.get(provider.id, []))]
    for x in extra:
        if location_id is None or x.location_id in (None, location_id):
            if not _covered(x.start_at, x.end_at, away.get(x.provider_id, [])):
                windows.append((x.start_at, x.end_at))
    return windows


def days_with_hours(organization_id: uuid.UUID, providers: list[Provider], location_id: uuid.UUID | None,
                    first: date, last: date, tz: ZoneInfo, now: datetime | None = None) -> set[date]:
    """Local dates (in `tz`) first..last on which any of these providers has working time (at
    this location, if given) still to come that approved time off does not wholly take away."""
    if not providers:
        return set()
    ids = [p.id for p in providers]
    # Inside a cached finder answer, the windows are kept per setup token (they read hours,
    # exceptions, time off and locations only, each of which bumps it).
    windows = setup_memo(("finder-windows", organization_id, tuple(sorted(map(str, ids))), location_id, first, last,
                          tz.key), lambda: _windows(organization_id, providers, location_id, first, last, tz))
    now = now or utcnow()
    windows = [(s, e) for s, e in windows if e > now]  # this evening, today's hours are over: closed
    # A cached finder answer (app/availability/read_cache.py) holds until the next window ends.
    note_valid_until(min((e for _, e in windows), default=None))
    days = set()
    day = first
    while day <= last:
        day_start, day_end = day_span(day, tz)
        if any(s < day_end and e > day_start for s, e in windows):
            days.add(day)
        day += timedelta(days=1)
    return days
