"""Pure rules: external calendar events in, busy intervals (UTC instants) out.

No Flask, no SQLAlchemy. The rules (docs/calendars.md):

- cancelled, transparent (free) and declined events never block;
- an all-day event blocks the provider's local day(s) [start date, end date);
- recurring events are expanded over the window with `recurring-ical-events`
  (EXDATE, RDATE and moved instances via RECURRENCE-ID honoured; X-WR-TIMEZONE
  repaired);
- floating times (no zone) are the provider's local wall-clock time;
- events Bookwell itself wrote (UID ending in ``@bookwell``, or an
  ``X-BOOKWELL-BOOKING`` property, or a UID the caller names) are never busy;
- zero-length events do not block;
- a calendar is refused (a sync error in words) when a series repeats more often than every
  15 minutes (FREQ=SECONDLY, FREQ=MINUTELY with INTERVAL under 15, BYSECOND, or more than
  four BYMINUTE values), or when one expansion (a feed, a CalDAV calendar) passes
  MAX_INSTANCES busy times: a few hundred bytes of feed must not cost minutes of CPU and
  millions of rows. A refused calendar keeps its last busy times; it never frees time.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import recurring_ical_events
from icalendar import Calendar, Component

from app.calendars.errors import CalendarSyncError

OWN_UID_SUFFIX = "@bookwell"
OWN_PROPERTY = "X-BOOKWELL-BOOKING"
FREE_BUSY_STATUSES = {"FREE"}  # X-MICROSOFT-CDO-BUSYSTATUS
MAX_INSTANCES = 10_000  # busy times one expansion (a feed, a CalDAV calendar) may produce
MIN_REPEAT_MINUTES = 15  # the densest series read: 96 a day, checked on the rule before expanding


@dataclass(frozen=True, order=True)
class BusyInterval:
    """One busy span of one external event (one instance of a series)."""

    start: datetime  # UTC
    end: datetime  # UTC
    uid: str


def local_instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    """A DTSTART/DTEND value as a UTC instant; dates are local midnight, floating times local."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min)
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(timezone.utc)


def is_own_uid(uid: str, own_uids: Collection[str] = ()) -> bool:
    return uid.endswith(OWN_UID_SUFFIX) or uid in own_uids


def _declined(event: Component, self_addresses: Collection[str]) -> bool:
    if not self_addresses:
        return False
    attendees = event.get("ATTENDEE")
    if attendees is None:
        return False
    if not isinstance(attendees, list):
        attendees = [attendees]
    for attendee in attendees:
        address = str(attendee).lower().removeprefix("mailto:")
        if address in self_addresses and str(attendee.params.get("PARTSTAT", "")).upper() == "DECLINED":
            return True
    return False


def blocks_time(event: Component, *, own_uids: Collection[str] = (), self_addresses: Collection[str] = ()) -> bool:
    """Whether one (expanded) VEVENT makes its time busy."""
    uid = str(event.get("UID", ""))
    if is_own_uid(uid, own_uids) or OWN_PROPERTY in event:
        return False
    if str(event.get("STATUS", "CONFIRMED")).upper() == "CANCELLED":
        return False
    if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return False
    if str(event.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper() in FREE_BUSY_STATUSES:
        return False
    return not _declined(event, {a.lower() for a in self_addresses})


def _span(event: Component, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    start_prop = event.get("DTSTART")
    if start_prop is None:
        return None
    start_value = start_prop.dt
    end_prop = event.get("DTEND")
    if end_prop is not None:
        end_value = end_prop.dt
    elif event.get("DURATION") is not None:
        end_value = start_value + event["DURATION"].dt
    elif isinstance(start_value, datetime):
        end_value = start_value  # RFC 5545: no end and a date-time start is an instant
    else:
        end_value = start_value + timedelta(days=1)  # an all-day event lasts its day
    start, end = local_instant(start_value, zone), local_instant(end_value, zone)
    return (start, end) if end > start else None


def intervals_from_calendar(calendar: Calendar | bytes | str, *, zone: ZoneInfo, window_start: datetime,
                            window_end: datetime, own_uids: Collection[str] = (),
                            self_addresses: Collection[str] = ()) -> list[BusyInterval]:
    """Every busy interval of `calendar` overlapping [window_start, window_end), sorted."""
    if not isinstance(calendar, Calendar):
        calendar = Calendar.from_ical(calendar)
    _floating_to_zone(calendar, zone)
    _refuse_dense_series(calendar)
    found: set[BusyInterval] = set()
    for event in _instances(calendar, window_start.astimezone(zone), window_end.astimezone(zone)):
        if not blocks_time(event, own_uids=own_uids, self_addresses=self_addresses):
            continue
        span = _span(event, zone)
        if span is None or span[1] <= window_start or span[0] >= window_end:
            continue
        found.add(BusyInterval(span[0], span[1], str(event.get("UID", ""))[:500]))
    return sorted(found)


def _instances(calendar: Calendar, start: datetime, end: datetime) -> Iterable[Component]:
    """The events of the window, series by series (what `between` does), counted as they come."""
    query = recurring_ical_events.of(calendar, skip_bad_series=True)
    skipped = tuple(query.suppressed_errors)
    count = 0
    for series in query.series:
        try:  # (a lazy generator: a bad series fails while it is read, so read it here)
            occurrences = list(series.between(start, end))
        except skipped:
            continue
        for occurrence in occurrences:
            count += 1
            if count > MAX_INSTANCES:
                raise CalendarSyncError(f"The calendar has more than {MAX_INSTANCES:,} busy times in the coming "
                                        "weeks; Bookwell does not read calendars that large.")
            yield occurrence.as_component(query.keep_recurrence_attributes)


def _refuse_dense_series(calendar: Calendar) -> None:
    """A series repeating more often than every MIN_REPEAT_MINUTES, read from its rule (the
    expansion library computes a whole window at once, so counting alone would come too late)."""
    for event in calendar.walk("VEVENT"):
        rules = event.get("RRULE")
        for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
            try:
                freq = {str(f).upper() for f in rule.get("FREQ", [])}
                interval = int((rule.get("INTERVAL") or [1])[0])
                by_second, by_minute = rule.get("BYSECOND"), rule.get("BYMINUTE", [])
            except Exception:  # noqa: BLE001 - an unreadable rule: the expansion skips that series
                continue
            if ("SECONDLY" in freq or ("MINUTELY" in freq and interval < MIN_REPEAT_MINUTES)
                    or by_second or len(by_minute) > 60 // MIN_REPEAT_MINUTES):
                raise CalendarSyncError(f"An event repeats more often than every {MIN_REPEAT_MINUTES} minutes; "
                                        "Bookwell does not read such calendars.")


def _floating_to_zone(calendar: Calendar, zone: ZoneInfo) -> None:
    """Floating DTSTART/DTEND/RECURRENCE-ID/EXDATE values become the provider's local time.

    Done before expansion, so a floating weekly series keeps its wall-clock time
    across DST changes and floating EXDATEs still match their instances.
    """
    for event in calendar.walk("VEVENT"):
        for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
            prop = event.get(name)
            if prop is not None and isinstance(prop.dt, datetime) and prop.dt.tzinfo is None:
                value = prop.dt.replace(tzinfo=zone)
                del event[name]
                event.add(name, value)
        exdates = event.get("EXDATE")
        if exdates is None:
            continue
        for item in exdates if isinstance(exdates, list) else [exdates]:
            for when in item.dts:
                if isinstance(when.dt, datetime) and when.dt.tzinfo is None:
                    when.dt = when.dt.replace(tzinfo=zone)


def webhook_interval(event: dict, zone: ZoneInfo) -> BusyInterval | None:
    """One validated webhook event (docs/api.md) as a busy interval, or None when it frees its time.

    `event` has `id`, `status`, optional `transparency`, and either aware
    `start`/`end` datetimes or local `date`/`end_date` (end exclusive; default: one day).
    """
    if event["status"] == "cancelled" or event.get("transparency") == "transparent":
        return None
    if event.get("date") is not None:
        first: date = event["date"]
        last: date = event.get("end_date") or first + timedelta(days=1)
        start, end = local_instant(first, zone), local_instant(last, zone)
    else:
        start, end = event["start"].astimezone(timezone.utc), event["end"].astimezone(timezone.utc)
    return BusyInterval(start, end, event["id"]) if end > start else None


def group_by_uid(intervals: Iterable[BusyInterval]) -> dict[str, list[BusyInterval]]:
    grouped: dict[str, list[BusyInterval]] = {}
    for item in intervals:
        grouped.setdefault(item.uid, []).append(item)
    return grouped
