"""Pure checks on weekly rules: which windows of one provider would overlap."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

WEEK = 7 * 1440


@dataclass(frozen=True)
class RuleShape:
    weekdays: frozenset[int]
    start: time
    end: time
    valid_from: date | None
    valid_to: date | None
    priority: int


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def _week_intervals(rule: RuleShape) -> list[tuple[int, int]]:
    """The rule's windows as minute ranges on a 7-day circle (Monday 00:00 = 0)."""
    length = (_minutes(rule.end) - _minutes(rule.start)) % 1440 or 1440
    out = []
    for day in rule.weekdays:
        start = (day - 1) * 1440 + _minutes(rule.start)
        end = start + length
        if end <= WEEK:
            out.append((start, end))
        else:  # Sunday night into Monday morning
            out += [(start, WEEK), (0, end - WEEK)]
    return out


def _dates_overlap(a: RuleShape, b: RuleShape) -> bool:
    a_from, a_to = a.valid_from or date.min, a.valid_to or date.max
    b_from, b_to = b.valid_from or date.min, b.valid_to or date.max
    return a_from <= b_to and b_from <= a_to


def overlaps(a: RuleShape, b: RuleShape) -> bool:
    """Same priority, overlapping validity, and some weekday window in common (touching is fine)."""
    if a.priority != b.priority or not _dates_overlap(a, b):
        return False
    return any(s1 < e2 and s2 < e1 for s1, e1 in _week_intervals(a) for s2, e2 in _week_intervals(b))
