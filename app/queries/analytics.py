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
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

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


def _week_open_minutes(provider: Provider, monday: date, start: datetime, end: datetime) -> int:
    loaded = inputs.load(provider, monday, monday + timedelta(days=6))
    any_type = AppointmentSpec(id=None, duration_minutes=1)
    windows = [(w.start, w.end) for w in build_windows(loaded.rules, loaded.extra_windows, any_type,
                                                        monday, monday + timedelta(days=6))]
    blocked = [(b.start, b.end) for b in loaded.blocked if b.appointment_type_id is None]
    clipped = [(max(a, start), min(b, end)) for a, b in windows if max(a, start) < min(b, end)]
    return open_minutes(clipped, blocked)


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
