"""A hold's non-booking inputs, kept across requests while the database says they are unchanged.

A hold's transaction changes bookings only, so everything else the engine reads for the
provider (hours, breaks, exceptions, time off, busy times, locations, rooms, types: an
`inputs.Static`) is what the previous hold read, unless the organization's row in
`input_versions` changed. Triggers give that row a new random value in the same transaction
as any change to those tables, whoever writes them, ORM or bulk SQL (migration 0012).

Inside `inputs.reusing_static_inputs()` (holds and reschedules) a load reads the version
once per transaction, after the provider's lock, and takes the inputs kept under it,
narrowed to the dates asked; on a miss it loads them for the whole materialized horizon
and keeps them (again, when they were kept days ago and the dates asked lie beyond). The version is read before the rows it labels, so a change committed in
between leaves the kept inputs newer than their label, never older: the next read sees a
new version and reloads. Without a version row (a database the triggers never touched)
nothing is kept. Other paths (reconcile, setup pages) always read the tables.
See docs/performance.md ("Fourth pass").
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, select

from app.availability import inputs
from app.availability.materialize import organization_zones
from app.database import core_execute
from app.extensions import db
from app.lru import LRU
from app.models import InputVersion, Provider, utcnow

_VERSION = select(InputVersion.version).where(InputVersion.organization_id == bindparam("org"))
_kept = LRU(4096)  # (database URL, provider id) -> _Kept


@dataclass(frozen=True)
class _Kept:
    version: int
    start: datetime  # the instants the kept rows cover
    end: datetime
    static: inputs.Static
    zones: frozenset[str]  # the organization's location zones (the days a change touches)

    def covers(self, start: datetime, end: datetime) -> bool:
        return self.start <= start and end <= self.end


def static_for(provider: Provider, start: datetime, end: datetime) -> inputs.Static:
    """The provider's non-booking inputs between these instants, as `inputs.load_static` gives them."""
    kept = _current(provider)
    if kept is not None and not kept.covers(start, end) and kept.start < _window()[0]:
        kept = _fill(provider, kept.version)  # kept days ago: the horizon has moved on since
    if kept is not None and kept.covers(start, end):
        return narrowed(kept.static, start, end)
    return inputs.load_static([provider], start, end)[provider.id]


def zones(provider: Provider) -> frozenset[str] | None:
    """The zones of the provider's organization's locations, if kept (None: read them)."""
    kept = _current(provider)
    return kept.zones if kept is not None else None


def narrowed(static: inputs.Static, start: datetime, end: datetime) -> inputs.Static:
    """Only the dated inputs overlapping [start, end), with the query's own test, so the
    result equals a load of just those instants (tests/integration/test_static_cache.py)."""
    def inside(items):
        return tuple(item for item in items if item.start < end and item.end > start)

    extra = inside(static.extra)
    return replace(static, extra=extra, blocked=inside(static.blocked), busy=inside(static.busy),
                   rooms_used=frozenset(inputs.used_rooms(static.rules, extra, static.types)))


def _current(provider: Provider) -> _Kept | None:
    session = db.session()
    memo = inputs.transaction_memo(session)
    if ("kept", provider.id) in memo:
        return memo["kept", provider.id]
    version = core_execute(_VERSION, {"org": provider.organization_id}).scalar()
    kept = _kept.get(_key(provider)) if version is not None else None
    if version is not None and (kept is None or kept.version != version):
        kept = _fill(provider, version)
    memo["kept", provider.id] = kept
    return kept


def _key(provider: Provider) -> tuple:
    return db.session.get_bind().engine.url, provider.id


def _window() -> tuple[datetime, datetime]:
    """The instants kept: the materialized horizon from today (UTC), and a few days around it."""
    today = utcnow().date()
    return inputs.day_bounds(today - timedelta(days=2), today + timedelta(days=current_app.config["HORIZON_DAYS"] + 2))


def _fill(provider: Provider, version: int) -> _Kept:
    """Load and keep the provider's inputs over `_window()` under `version`."""
    start, end = _window()
    kept = _Kept(version=version, start=start, end=end,
                 static=inputs.load_static([provider], start, end)[provider.id],
                 zones=organization_zones(provider.organization_id))
    _kept.put(_key(provider), kept)
    inputs.transaction_memo(db.session())["kept", provider.id] = kept
    return kept
