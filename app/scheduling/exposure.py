"""Which open slots a viewer is shown: a deterministic, rotating, spread-out sample.

Users do not see the whole grid. For one query they see a small sample (1–3
slots when the query names a provider, 3–5 when it names a location, never
more than are open), together with `total` (how many open slots the sample was
drawn from) and `has_more` (`total` exceeds what is shown).

Algorithm (`expose`):

1. Sort the offered slots by (start, end, sort_key); Python's sort is stable, so
   exact ties keep their input order. Everything below works on this order, so
   the result does not depend on how the caller ordered its input.
2. Seed a private `random.Random` with the sha256 of the viewer key (user or
   session id), the day asked for, the provider key (provider id, or "all" for
   a location query) and an hourly salt (see `hour_salt`). Same inputs, same
   sample; a new hour, another viewer or another day, usually another sample.
3. Draw the pick count from that RNG within `sample_bounds(scope)`, then cap it
   at the number of open slots.
4. Shuffle the slot positions with the RNG and the day parts (morning 06–12,
   afternoon 12–17, evening 17–22, in the slots' *local* time) too. First take,
   for each non-empty part in that shuffled part order, its first slot in the
   shuffled slot order; then fill the remaining picks from the remaining slots
   in shuffled order ("other" hours only ever come in as fill).
5. Return the picks sorted back into the order of step 1.

Fairness follows from the shuffle: every slot is first in its part, or early in
the fill, for some seeds, so over many viewers every slot gets shown.

Variant "all" (an explicit "show all times", or an organization that switched
sampling off) returns every slot in the order of step 1 with `has_more` False.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Generic, Literal, Protocol, Sequence, TypeVar
from zoneinfo import ZoneInfo

Scope = Literal["provider", "location"]
Variant = Literal["sample", "all"]
DayPart = Literal["morning", "afternoon", "evening", "other"]

SPREAD_PARTS: tuple[DayPart, ...] = ("morning", "afternoon", "evening")

_BOUNDS: dict[str, tuple[int, int]] = {"provider": (1, 3), "location": (3, 5)}
_FIELD_SEPARATOR = "\x1f"  # cannot occur in ids, dates or salts: keeps the hash input unambiguous


class SlotLike(Protocol):
    """What `expose` needs from a slot: aware start and end instants.

    An optional `sort_key` attribute breaks ties between equal (start, end).
    """

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


T = TypeVar("T", bound=SlotLike)


@dataclass(frozen=True)
class ExposureRequest:
    """Who asks, for which day and provider, in which hour bucket and scope."""

    viewer_key: str  # user id, or session id for anonymous visitors
    day: date
    provider_key: str  # provider id, or "all" for a location query
    hour_salt: str  # see `hour_salt`
    scope: Scope


@dataclass(frozen=True)
class Exposure(Generic[T]):
    """The slots shown (sorted by start), out of `total` open ones."""

    slots: tuple[T, ...]
    total: int
    has_more: bool


def sample_bounds(scope: Scope) -> tuple[int, int]:
    """Inclusive (fewest, most) slots shown for a query of this scope."""
    try:
        return _BOUNDS[scope]
    except KeyError:
        raise ValueError(f"unknown exposure scope: {scope!r}") from None


def hour_salt(now: datetime) -> str:
    """The UTC hour bucket of an aware instant, e.g. "2027-03-14T10"."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("hour_salt needs a timezone-aware datetime")
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H")


def day_part(local_start: datetime) -> DayPart:
    """The part of the day a local wall-clock start falls in."""
    hour = local_start.hour
    if 6 <= hour < 12:
        return "morning"
    if 12 <= hour < 17:
        return "afternoon"
    if 17 <= hour < 22:
        return "evening"
    return "other"


def expose(
    slots: Sequence[T],
    request: ExposureRequest,
    tz: ZoneInfo,
    variant: Variant = "sample",
) -> Exposure[T]:
    """The slots `request`'s viewer is shown out of the open `slots` (see module doc)."""
    ordered = sorted(slots, key=_order_key)
    total = len(ordered)
    if variant == "all":
        return Exposure(slots=tuple(ordered), total=total, has_more=False)
    if variant != "sample":
        raise ValueError(f"unknown exposure variant: {variant!r}")
    fewest, most = sample_bounds(request.scope)
    if total == 0:
        return Exposure(slots=(), total=0, has_more=False)

    rng = random.Random(_seed(request))
    count = min(rng.randint(fewest, most), total)
    shuffled = list(range(total))
    rng.shuffle(shuffled)
    part_order = list(SPREAD_PARTS)
    rng.shuffle(part_order)

    parts = [day_part(slot.start.astimezone(tz)) for slot in ordered]
    spread = [
        first
        for part in part_order
        if (first := next((index for index in shuffled if parts[index] == part), None)) is not None
    ]
    picked = spread[:count]
    picked += [index for index in shuffled if index not in picked][: count - len(picked)]
    shown = sorted(picked)
    return Exposure(
        slots=tuple(ordered[index] for index in shown),
        total=total,
        has_more=total > count,
    )


def _order_key(slot: SlotLike) -> tuple[datetime, datetime, str]:
    return (slot.start, slot.end, str(getattr(slot, "sort_key", "")))


def _seed(request: ExposureRequest) -> int:
    material = _FIELD_SEPARATOR.join(
        (request.viewer_key, request.day.isoformat(), request.provider_key, request.hour_salt)
    )
    return int.from_bytes(hashlib.sha256(material.encode("utf-8")).digest(), "big")
