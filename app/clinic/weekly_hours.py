"""A provider's weekly hours at one location, as the hours editor sees them: one
working window (with breaks) per weekday. Owned rules the editor cannot show
faithfully (two windows on a day, overnight windows, ...) make it read-only:
saving is refused rather than deleting what it did not show.

The editor owns the plain weekly rules of a provider at a location: kind
"weekly", no valid_from/valid_to. Date-range rules and rules limited to dates
are left alone (they show read-only). Saving replaces the owned rules in one
transaction; days with the same hours share one rule. The slot triggers
recompute the affected provider-days at commit (app/availability/triggers.py).

`preview` runs the engine on the proposed hours without writing anything, so the
editor can show which bookable times appear and disappear.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.availability import inputs
from app.clinic.rules import RuleShape, overlaps
from app.database import write_transaction
from app.errors import BookwellError, not_found, validation_error
from app.extensions import db
from app.models import AppointmentType, AvailabilityBreak, AvailabilityRule, Location, Provider, weekday_mask
from app.scheduling.engine import compute_slots
from app.scheduling.types import WeeklyRule

WEEKDAYS = range(1, 8)  # ISO, Monday = 1
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_PARALLEL_SESSIONS = 20


@dataclass(frozen=True)
class DayHours:
    """One weekday's working window in local wall-clock time."""
    start: time
    end: time
    breaks: tuple[tuple[time, time], ...] = ()


def _is_owned(rule: AvailabilityRule, location_id: uuid.UUID) -> bool:
    return (rule.location_id == location_id and rule.kind == "weekly"
            and rule.valid_from is None and rule.valid_to is None)


def _rules(org_id: uuid.UUID, provider_id: uuid.UUID) -> list[AvailabilityRule]:
    return list(db.session.scalars(
        select(AvailabilityRule).options(selectinload(AvailabilityRule.breaks))
        .where(AvailabilityRule.organization_id == org_id, AvailabilityRule.provider_id == provider_id)
        .order_by(AvailabilityRule.start_time, AvailabilityRule.id)
    ))


def owned_rules(org_id: uuid.UUID, provider_id: uuid.UUID, location_id: uuid.UUID) -> list[AvailabilityRule]:
    return [rule for rule in _rules(org_id, provider_id) if _is_owned(rule, location_id)]


def other_rules(org_id: uuid.UUID, provider_id: uuid.UUID, location_id: uuid.UUID) -> list[AvailabilityRule]:
    """The provider's rules the editor does not own (other locations, dated rules)."""
    return [rule for rule in _rules(org_id, provider_id) if not _is_owned(rule, location_id)]


MAX_BREAKS = 2


def unrepresentable(rules: list[AvailabilityRule]) -> list[str]:
    """Why the editor cannot show these owned rules faithfully (empty when it can).

    The editor has one window per weekday ending after it starts, at most two
    breaks, one room and one number of parallel sessions. Saving rules it cannot
    show would silently delete what it did not show, so it refuses instead.
    """
    reasons: list[str] = []
    seen: dict[int, AvailabilityRule] = {}
    for rule in rules:
        span = f"{rule.start_time:%H:%M}–{rule.end_time:%H:%M}"
        for day in sorted(rule.weekdays):
            if day in seen:
                first = seen[day]
                reasons.append(f"{DAY_NAMES[day - 1]} has more than one window "
                               f"({first.start_time:%H:%M}–{first.end_time:%H:%M} and {span}).")
            seen.setdefault(day, rule)
        if rule.end_time <= rule.start_time:
            reasons.append(f"{span} runs past midnight.")
        if len(rule.breaks) > MAX_BREAKS:
            reasons.append(f"{span} has {len(rule.breaks)} breaks.")
        if rule.priority != 0:
            reasons.append(f"{span} has a priority of its own.")
    if len({rule.room_id for rule in rules}) > 1:
        reasons.append("The days use different rooms.")
    if len({rule.parallel_sessions for rule in rules}) > 1:
        reasons.append("The days see different numbers of patients at once.")
    return list(dict.fromkeys(reasons))


def cannot_edit(reasons: list[str]) -> BookwellError:
    return BookwellError(409, "POLICY_VIOLATION", "These weekly hours are more detailed than this editor can show "
                         "(" + " ".join(reasons) + ") Nothing was saved; an admin can change them through the "
                         "admin API.", {"reasons": reasons})


def current_week(rules: list[AvailabilityRule]) -> dict[int, DayHours]:
    """Weekday -> hours (the editor has one window per day; see `unrepresentable`)."""
    week: dict[int, DayHours] = {}
    for rule in rules:
        for day in rule.weekdays:
            week.setdefault(day, DayHours(rule.start_time, rule.end_time,
                                          tuple(sorted((b.start_time, b.end_time) for b in rule.breaks))))
    return week


def parallel_sessions_of(rules: list[AvailabilityRule]) -> int:
    return max((rule.parallel_sessions for rule in rules), default=1)


def check_day(hours: DayHours) -> dict[str, str]:
    """Field errors of one day: 'end', 'break<i>'. Empty when the day is sound."""
    errors: dict[str, str] = {}
    if hours.end <= hours.start:
        errors["end"] = "The day must end after it starts."
        return errors
    for i, (a, b) in enumerate(hours.breaks):
        if b <= a:
            errors[f"break{i}"] = "A break must end after it starts."
        elif a <= hours.start or b >= hours.end:
            errors[f"break{i}"] = "A break must lie inside the working hours."
    ordered = sorted(hours.breaks)
    for (_, end_a), (start_b, _) in zip(ordered, ordered[1:]):
        if start_b < end_a:
            errors.setdefault("break1", "The breaks overlap.")
    return errors


def grouped(week: Mapping[int, DayHours]) -> list[tuple[list[int], DayHours]]:
    """Days with identical hours share one rule, ordered by their first day."""
    groups: dict[DayHours, list[int]] = {}
    for day in sorted(week):
        groups.setdefault(week[day], []).append(day)
    return sorted(((days, hours) for hours, days in groups.items()), key=lambda item: item[0][0])


def _shape(days: list[int], hours: DayHours) -> RuleShape:
    return RuleShape(frozenset(days), hours.start, hours.end, None, None, 0)


def _shape_of(rule: AvailabilityRule) -> RuleShape:
    return RuleShape(frozenset(rule.weekdays), rule.start_time, rule.end_time, rule.valid_from, rule.valid_to,
                     rule.priority)


def _check_week(week: Mapping[int, DayHours], others: list[AvailabilityRule],
                names: Mapping[uuid.UUID, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for day, hours in week.items():
        if day not in WEEKDAYS:
            errors[f"day{day}"] = "Not a weekday."
            continue
        errors.update({f"day{day}.{field}": message for field, message in check_day(hours).items()})
        if f"day{day}.end" in errors:
            continue
        for rule in others:
            if overlaps(_shape([day], hours), _shape_of(rule)):
                where = names.get(rule.location_id, "another location")
                errors[f"day{day}.start"] = (f"Overlaps your hours at {where} "
                                             f"({rule.start_time:%H:%M}–{rule.end_time:%H:%M}).")
                break
    return errors


def _owned_provider_location(org_id: uuid.UUID, provider_id: uuid.UUID,
                             location_id: uuid.UUID) -> tuple[Provider, Location]:
    provider = db.session.get(Provider, provider_id)
    location = db.session.get(Location, location_id)
    if provider is None or provider.organization_id != org_id:
        raise not_found("provider")
    if location is None or location.organization_id != org_id or location not in provider.locations:
        raise not_found("location")
    return provider, location


def replace_weekly_hours(org_id: uuid.UUID, provider_id: uuid.UUID, location_id: uuid.UUID,
                         week: Mapping[int, DayHours], parallel_sessions: int = 1) -> list[AvailabilityRule]:
    """Make `week` the provider's weekly hours at the location (days left out are off).

    422 with one field per weekday ("day<N>.start|end|break<i>") when a day is unsound
    or overlaps the provider's hours elsewhere; nothing is written then."""
    if not 1 <= parallel_sessions <= MAX_PARALLEL_SESSIONS:
        raise validation_error({"parallel_sessions": f"Between 1 and {MAX_PARALLEL_SESSIONS}."})
    with write_transaction():
        _owned_provider_location(org_id, provider_id, location_id)
        rules = _rules(org_id, provider_id)
        owned = [rule for rule in rules if _is_owned(rule, location_id)]
        reasons = unrepresentable(owned)
        if reasons:  # never delete what the editor did not show
            raise cannot_edit(reasons)
        names = {loc.id: loc.name for loc in db.session.scalars(
            select(Location).where(Location.organization_id == org_id))}
        errors = _check_week(week, [rule for rule in rules if not _is_owned(rule, location_id)], names)
        if errors:
            raise validation_error(errors, "Some days need fixing; nothing was saved.")
        rooms = {rule.room_id for rule in owned}
        room_id = rooms.pop() if len(rooms) == 1 else None
        for rule in owned:
            db.session.delete(rule)
        created = [
            AvailabilityRule(
                organization_id=org_id, kind="weekly", provider_id=provider_id, location_id=location_id,
                room_id=room_id, weekday_mask=weekday_mask(days), start_time=hours.start, end_time=hours.end,
                valid_from=None, valid_to=None, parallel_sessions=parallel_sessions, priority=0,
                breaks=[AvailabilityBreak(organization_id=org_id, start_time=a, end_time=b) for a, b in hours.breaks],
            )
            for days, hours in grouped(week)
        ]
        db.session.add_all(created)
    return created


# --- preview -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PreviewDay:
    day: date
    kept: list[datetime]  # bookable now and after the change
    added: list[datetime]  # bookable only after the change
    removed: list[datetime]  # bookable now, not after the change


def _engine_rule(days: list[int], hours: DayHours, location: Location, parallel_sessions: int,
                 room_id: uuid.UUID | None = None) -> WeeklyRule:
    return WeeklyRule(weekdays=frozenset(days), start=hours.start, end=hours.end, timezone=location.timezone,
                      location_id=location.id, room_id=room_id, parallel_sessions=parallel_sessions,
                      breaks=hours.breaks)


def _as_engine_rule(rule: AvailabilityRule, location: Location) -> WeeklyRule:
    return WeeklyRule(weekdays=frozenset(rule.weekdays), start=rule.start_time, end=rule.end_time,
                      timezone=location.timezone, location_id=rule.location_id, room_id=rule.room_id,
                      valid_from=rule.valid_from, valid_to=rule.valid_to, parallel_sessions=rule.parallel_sessions,
                      breaks=tuple((b.start_time, b.end_time) for b in rule.breaks), priority=rule.priority)


def preview(org_id: uuid.UUID, provider_id: uuid.UUID, location_id: uuid.UUID, kind: AppointmentType,
            week: Mapping[int, DayHours], parallel_sessions: int, first_day: date, days: int,
            now: datetime) -> list[PreviewDay]:
    """The open start times of `kind` at the location on `days` local dates, today's hours
    against the proposed ones. Bookings, time off and blocks count as they do for patients."""
    provider, location = _owned_provider_location(org_id, provider_id, location_id)
    last_day = first_day + timedelta(days=days - 1)
    loaded = inputs.load(provider, first_day, last_day)
    owned = [_as_engine_rule(rule, location) for rule in owned_rules(org_id, provider_id, location_id)]
    kept_rules = [rule for rule in loaded.rules if rule not in owned]
    proposed = kept_rules + [_engine_rule(d, h, location, parallel_sessions) for d, h in grouped(week)]
    spec = inputs.spec_of(kind)

    def starts(rules: list[WeeklyRule]) -> dict[date, set[datetime]]:
        found: dict[date, set[datetime]] = {}
        for slot in compute_slots(spec=spec, rules=rules, first_day=first_day, last_day=last_day, now=now,
                                  extra_windows=loaded.extra_windows, blocked=loaded.blocked,
                                  occupancy=loaded.occupancy, room_capacities=loaded.room_capacities):
            if slot.location_id == location.id:
                found.setdefault(slot.local_date, set()).add(slot.start)
        return found

    before, after = starts(list(loaded.rules)), starts(proposed)
    out = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        was, will = before.get(day, set()), after.get(day, set())
        out.append(PreviewDay(day=day, kept=sorted(was & will), added=sorted(will - was), removed=sorted(was - will)))
    return out


def local_today(location: Location, now: datetime) -> date:
    return now.astimezone(ZoneInfo(location.timezone)).date()
