"""A provider's numbers for the insights page: utilization this week, upcoming visits,
no-show rate, hold-to-confirm conversion and a weekday x hour demand heatmap.

Definitions (shown on the page too):
- utilization: minutes of booked visits (awaiting approval, confirmed, completed,
  no-show) in this local week (Monday to Sunday) over the minutes the weekly hours
  open that week, with blocked time and approved time off taken out;
- upcoming: awaiting approval or confirmed visits from now on;
- no-show rate: no-shows over completed + no-shows, visits of the last 90 days;
- conversion: holds of the last 30 days that the patient went on to confirm;
- demand: every booking attempt (any status, expired holds included) by the local
  weekday and hour it asked for, 12 weeks back and 4 ahead.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from app.availability import inputs
from app.extensions import db
from app.models import Booking, BookingEvent, Provider, utcnow
from app.scheduling.engine import build_windows
from app.scheduling.types import AppointmentSpec

BOOKED = ("pending", "confirmed", "completed", "no_show")
UPCOMING = ("pending", "confirmed")
NO_SHOW_DAYS, CONVERSION_DAYS = 90, 30
DEMAND_BACK, DEMAND_AHEAD = timedelta(weeks=12), timedelta(weeks=4)
DEFAULT_HOURS = range(7, 20)  # the heatmap's rows when there is no demand outside them


@dataclass(frozen=True)
class Heatmap:
    hours: list[int]
    counts: list[list[int]]  # [weekday 0..6][index into hours]
    total: int
    peak: int


@dataclass(frozen=True)
class Insights:
    week_start: date
    booked_minutes: int
    open_minutes: int
    upcoming: int
    attended: int
    missed: int
    holds: int
    confirmed: int
    heatmap: Heatmap

    @property
    def utilization(self) -> float | None:
        return self.booked_minutes / self.open_minutes if self.open_minutes else None

    @property
    def no_show_rate(self) -> float | None:
        return self.missed / (self.attended + self.missed) if self.attended + self.missed else None

    @property
    def conversion(self) -> float | None:
        return self.confirmed / self.holds if self.holds else None


# --- pure helpers ------------------------------------------------------------------------------

def minutes_inside(intervals: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime) -> int:
    """Minutes of the union of `intervals` that fall in [start, end)."""
    total, reach = timedelta(0), start
    for a, b in sorted((max(a, start), min(b, end)) for a, b in intervals):
        if b <= max(a, reach):
            continue
        total += b - max(a, reach)
        reach = b
    return int(total.total_seconds() // 60)


def open_minutes(windows: Iterable[tuple[datetime, datetime]], blocked: Iterable[tuple[datetime, datetime]]) -> int:
    """Minutes of the windows' union that no blocked interval covers."""
    windows, blocked = list(windows), list(blocked)
    if not windows:
        return 0
    start, end = min(a for a, _ in windows), max(b for _, b in windows)
    covered = minutes_inside(windows, start, end)
    both = [(max(a, c), min(b, d)) for a, b in windows for c, d in blocked if max(a, c) < min(b, d)]
    return covered - minutes_inside(both, start, end)


def heatmap_of(starts: Iterable[datetime], tz: str) -> Heatmap:
    """Count starts by local weekday and hour; rows span DEFAULT_HOURS widened to the data."""
    zone = ZoneInfo(tz)
    cells: dict[tuple[int, int], int] = {}
    for start in starts:
        local = start.astimezone(zone)
        cells[(local.weekday(), local.hour)] = cells.get((local.weekday(), local.hour), 0) + 1
    used = {hour for _, hour in cells}
    hours = list(range(min([DEFAULT_HOURS.start, *used]), max([DEFAULT_HOURS.stop - 1, *used]) + 1))
    counts = [[cells.get((day, hour), 0) for hour in hours] for day in range(7)]
    return Heatmap(hours=hours, counts=counts, total=sum(cells.values()), peak=max(cells.values(), default=0))


# --- the query ---------------------------------------------------------------------------------

def _count(query) -> int:
    return db.session.scalar(query) or 0


def _open_minutes_in(provider: Provider, first: date, last: date, spans: list[tuple[datetime, datetime]],
                     location_id: uuid.UUID | None = None) -> list[int]:
    """The provider's open minutes in each span: the windows of its hours on local days
    first..last (at one location or all), with blocked time and approved time off taken out."""
    loaded = inputs.load(provider, first, last)
    any_type = AppointmentSpec(id=None, duration_minutes=1)
    windows = [(w.start, w.end) for w in build_windows(loaded.rules, loaded.extra_windows, any_type, first, last)
               if location_id is None or w.location_id == location_id]
    blocked = [(b.start, b.end) for b in loaded.blocked if b.appointment_type_id is None]
    return [open_minutes([(max(a, start), min(b, end)) for a, b in windows if max(a, start) < min(b, end)], blocked)
            for start, end in spans]


def _week_open_minutes(provider: Provider, monday: date, start: datetime, end: datetime) -> int:
    return _open_minutes_in(provider, monday, monday + timedelta(days=6), [(start, end)])[0]


def provider_insights(organization_id: uuid.UUID, provider: Provider, now: datetime | None = None) -> Insights:
    now = now or utcnow()
    zone = ZoneInfo(provider.timezone)
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    week_start = datetime.combine(monday, datetime.min.time(), tzinfo=zone)
    week_end = datetime.combine(monday + timedelta(days=7), datetime.min.time(), tzinfo=zone)
    mine = (Booking.organization_id == organization_id, Booking.provider_id == provider.id)

    booked = db.session.execute(select(Booking.start_at, Booking.end_at).where(
        *mine, Booking.status.in_(BOOKED), Booking.start_at < week_end, Booking.end_at > week_start)).all()
    booked_minutes = minutes_inside(((a, b) for a, b in booked), week_start, week_end)

    upcoming = _count(select(func.count()).select_from(Booking).where(
        *mine, Booking.status.in_(UPCOMING), Booking.start_at >= now))
    outcomes = dict(db.session.execute(select(Booking.status, func.count()).where(
        *mine, Booking.status.in_(("completed", "no_show")),
        Booking.start_at >= now - timedelta(days=NO_SHOW_DAYS), Booking.start_at < now,
    ).group_by(Booking.status)).all())

    since = now - timedelta(days=CONVERSION_DAYS)
    events = (select(func.count(func.distinct(BookingEvent.booking_id))).select_from(BookingEvent)
              .join(Booking, Booking.id == BookingEvent.booking_id)
              .where(*mine, BookingEvent.created_at >= since))
    holds = _count(events.where(BookingEvent.action == "held"))
    confirmed = _count(events.where(BookingEvent.action == "confirmed", Booking.id.in_(
        select(BookingEvent.booking_id).where(BookingEvent.action == "held", BookingEvent.created_at >= since))))

    demand = db.session.scalars(select(Booking.start_at).where(
        *mine, Booking.start_at >= now - DEMAND_BACK, Booking.start_at < now + DEMAND_AHEAD))
    return Insights(
        week_start=monday, booked_minutes=booked_minutes,
        open_minutes=_week_open_minutes(provider, monday, week_start, week_end), upcoming=upcoming,
        attended=outcomes.get("completed", 0), missed=outcomes.get("no_show", 0), holds=holds, confirmed=confirmed,
        heatmap=heatmap_of(demand, provider.timezone),
    )


# --- the clinic's summary (GET /api/admin/v1/analytics/summary) ---------------------------------

def _rates(counts: dict[str, int], booked: int, opened: int, holds: int, confirmed: int) -> dict:
    """One group's figures: status counts, utilization, conversion and no-show rate."""
    attended, missed = counts.get("completed", 0), counts.get("no_show", 0)
    return {
        "by_status": counts, "booked_minutes": booked, "open_minutes": opened,
        "utilization": round(booked / opened, 4) if opened else None,
        "conversion": {"holds": holds, "confirmed": confirmed, "rate": round(confirmed / holds, 4) if holds else None},
        "no_show_rate": round(missed / (attended + missed), 4) if attended + missed else None,
    }


def _utc_days(first: date, last: date) -> list[tuple[str, datetime, datetime]]:
    days = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        start = datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc)
        days.append((day.isoformat(), start, start + timedelta(days=1)))
    return days


def clinic_summary(organization_id: uuid.UUID, first: date, last: date, provider_id: uuid.UUID | None = None,
                   location_id: uuid.UUID | None = None) -> dict:
    """Status counts, utilization, conversion and no-show rate for the clinic, by provider and
    by UTC day, over first..last (UTC dates of the visits; holds and confirmations by when they
    happened). Utilization: minutes of booked visits (BOOKED) over the open minutes of the
    providers' hours, as on the insights page; a provider or location narrows everything."""
    days = _utc_days(first, last)
    start, end = days[0][1], days[-1][2]
    scope = [Booking.organization_id == organization_id]
    if provider_id is not None:
        scope.append(Booking.provider_id == provider_id)
    if location_id is not None:
        scope.append(Booking.location_id == location_id)
    rows = db.session.execute(select(Booking.provider_id, Booking.status, Booking.start_at, Booking.end_at).where(
        *scope, Booking.start_at >= start, Booking.start_at < end)).all()
    events = db.session.execute(
        select(Booking.provider_id, BookingEvent.action, BookingEvent.created_at)
        .join(Booking, Booking.id == BookingEvent.booking_id)
        .where(*scope, BookingEvent.action.in_(("held", "confirmed")),
               BookingEvent.created_at >= start, BookingEvent.created_at < end)).all()
    seen = {row[0] for row in rows} | {row[0] for row in events}
    providers = db.session.scalars(select(Provider).where(
        Provider.organization_id == organization_id, or_(Provider.is_active.is_(True), Provider.id.in_(seen)),
        *([Provider.id == provider_id] if provider_id is not None else [])).order_by(Provider.display_name)).all()

    counts: dict[tuple[str, str], dict[str, int]] = {}  # (group kind, key) -> status -> n
    booked: dict[tuple[str, str], int] = {}
    funnel: dict[tuple[str, str], list[int]] = {}  # -> [holds, confirmed]
    opened: dict[tuple[str, str], int] = {}

    def groups(provider, day):
        return (("all", ""), ("provider", str(provider)), ("day", day))

    for provider, status, visit_start, visit_end in rows:
        day = visit_start.astimezone(start.tzinfo).date().isoformat()
        for group in groups(provider, day):
            counts.setdefault(group, {})
            counts[group][status] = counts[group].get(status, 0) + 1
            if status in BOOKED:
                booked[group] = booked.get(group, 0) + int((visit_end - visit_start).total_seconds() // 60)
    for provider, action, at in events:
        day = at.astimezone(start.tzinfo).date().isoformat()
        for group in groups(provider, day):
            funnel.setdefault(group, [0, 0])[0 if action == "held" else 1] += 1
    for provider in providers:  # local days around the UTC ones: a UTC day meets two local days
        spans = [(day_start, day_end) for _, day_start, day_end in days]
        minutes = _open_minutes_in(provider, first - timedelta(days=1), last + timedelta(days=1), spans, location_id)
        for (day, _, _), value in zip(days, minutes):
            for group in groups(provider.id, day):
                opened[group] = opened.get(group, 0) + value

    def figures(group):
        holds, confirmed = funnel.get(group, [0, 0])
        return _rates(counts.get(group, {}), booked.get(group, 0), opened.get(group, 0), holds, confirmed)

    overall = figures(("all", ""))
    return {
        "from": first.isoformat(), "to": last.isoformat(),
        "by_status": overall["by_status"],
        "by_provider": {key: counts[("provider", key)] for (kind, key) in counts if kind == "provider"},
        "by_day": {key: counts[("day", key)] for (kind, key) in counts if kind == "day"},
        "utilization": overall["utilization"], "booked_minutes": overall["booked_minutes"],
        "open_minutes": overall["open_minutes"], "conversion": overall["conversion"],
        "no_show_rate": overall["no_show_rate"],
        "providers": [{"provider_id": str(p.id), "name": p.display_name, **figures(("provider", str(p.id)))}
                      for p in providers],
        "days": [{"date": name, **figures(("day", name))} for name, _, _ in days],
    }
