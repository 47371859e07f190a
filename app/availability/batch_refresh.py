"""Recompute many providers' slots at once, writing only the rows that differ (reconcile's path).

Same contract as `materialize.refresh_provider_days` (a slot keeps its id while it exists,
only the difference is written, the caller commits), built for volume: reconcile runs it
on 100 providers x 60 days (~143,000 rows) and must take <= 10 s from empty and <= 2 s
when nothing changed (bench/availability.py).

Where the time went before (cProfile, 100 providers x 60 days, docs/performance-background.md):
loading the existing rows through SQLAlchemy's type processing (UUID objects and the
UTC datetime decorator, per column per row) ~42% of an unchanged run, then the engine
(~26%), then the per-slot compare and per-provider input queries; from empty, binding
143,000 rows through the same type decorators cost about as much as SQLite's own inserts.

So this module compares and writes in the database driver's own representation
(`_Raw`): the existing rows are read without SQLAlchemy result processing, each fresh
slot is encoded once into the same form (ids and instants memoised, as a batch repeats
few ids and a 60-day grid of instants), and inserts/updates/deletes go to the driver as
plain executemany. Raw values are a faithful encoding: equal raw tuples mean equal slots
on both backends (SQLite stores what SQLAlchemy writes: 32-hex ids, "YYYY-MM-DD
HH:MM:SS.ffffff" UTC text, ISO dates; psycopg returns UUIDs and aware datetimes).
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.availability import inputs
from app.availability.cache import bump_after_commit
from app.availability.materialize import horizon
from app.extensions import db
from app.ids import uuid7_int
from app.models import AvailabilitySlot, Provider, utcnow
from app.scheduling.engine import compute_slots

_TABLE = AvailabilitySlot.__table__.name
_KEY = ("appointment_type_id", "location_id", "start_at")
_VALUES = ("end_at", "room_id", "local_date", "capacity", "booked", "held", "status")
_UUID_COLUMNS = {"id", "organization_id", "provider_id", "appointment_type_id", "location_id", "room_id"}


class _Raw:
    """Python values <-> what the driver returns and accepts for availability_slots."""

    def __init__(self, dialect: str):
        self.sqlite = dialect == "sqlite"
        self.mark = "?" if self.sqlite else "%s"
        self.ids: dict = {None: None}
        self.instants: dict = {}
        self.days: dict = {}

    def id(self, value: uuid.UUID | None):
        try:
            return self.ids[value]
        except KeyError:
            raw = self.ids[value] = value.hex if self.sqlite else str(value)
            return raw

    def instant(self, value: datetime):
        try:
            return self.instants[value]
        except KeyError:
            utc = value.astimezone(timezone.utc)
            raw = self.instants[value] = (utc.replace(tzinfo=None).isoformat(" ", "microseconds")
                                           if self.sqlite else utc)
            return raw

    def day(self, value: date):
        try:
            return self.days[value]
        except KeyError:
            raw = self.days[value] = value.isoformat() if self.sqlite else value
            return raw

    def new_id(self):
        value = uuid7_int()
        return f"{value:032x}" if self.sqlite else str(uuid.UUID(int=value))

    def column(self, name: str) -> str:
        """How to select a column so it arrives in this raw form (PostgreSQL: uuids as text,
        whose hashes are cached, unlike uuid.UUID's Python-level __hash__)."""
        return name if self.sqlite or name not in _UUID_COLUMNS else f"CAST({name} AS TEXT)"


def refresh_providers(provider_ids: Sequence[uuid.UUID], first_day: date, last_day: date,
                      now: datetime | None = None) -> int:
    """Recompute these providers' slots on local dates first_day..last_day (clipped to the
    horizon) and write the difference; returns how many rows changed. The caller commits.

    One query per kind of input for the whole batch (`inputs.load_many`), one query for
    the batch's existing rows, then one executemany per kind of write.
    """
    now = now or utcnow()
    low, high = horizon(now)
    first_day, last_day = max(first_day, low), min(last_day, high)
    if first_day > last_day or not provider_ids:
        return 0
    providers = list(db.session.scalars(
        select(Provider).options(selectinload(Provider.locations)).where(Provider.id.in_(list(provider_ids)))))
    active = [p for p in providers if p.is_active]
    loaded = inputs.load_many(active, first_day, last_day)
    connection = db.session.connection()
    raw = _Raw(connection.dialect.name)
    existing = _existing_rows(connection, raw, [p.id for p in providers], first_day, last_day)

    inserts, updates, stale = [], [], []
    for provider in providers:
        rows = existing.get(raw.id(provider.id), {})
        found = loaded.get(provider.id)
        fresh = [(raw.id(kind.id), compute_slots(
            spec=spec, rules=found.rules, first_day=first_day, last_day=last_day, now=now,
            extra_windows=found.extra_windows, blocked=found.blocked, occupancy=found.occupancy,
            room_capacities=found.room_capacities, include_unavailable=True)) for kind, spec in found.types
        ] if found else []
        if _diff(raw, provider, fresh, rows, now, inserts, updates, stale):
            bump_after_commit(db.session(), provider.id, provider.organization_id)
    _write(connection, raw, inserts, updates, stale)
    return len(inserts) + len(updates) + len(stale)


def _diff(raw: _Raw, provider: Provider, fresh: list, rows: dict, now: datetime,
          inserts: list, updates: list, stale: list) -> bool:
    """Append to inserts/updates/stale what makes the provider's `rows` equal `fresh`
    ((raw type id, slots) pairs); True when anything differs. The hot loop of an
    unchanged reconcile (~1,400 slots per provider-type): memo lookups, tuple compares."""
    ids, instants, days = raw.ids, raw.instants, raw.days
    raw_now, org_raw, provider_raw = raw.instant(now), raw.id(provider.organization_id), raw.id(provider.id)
    before = len(inserts) + len(updates)
    wanted = set()
    for type_raw, slots in fresh:
        for slot in slots:
            start, end, room, day = slot.start, slot.end, slot.room_id, slot.local_date
            key = (type_raw, ids.get(slot.location_id) or raw.id(slot.location_id),
                   instants.get(start) or raw.instant(start))
            values = (instants.get(end) or raw.instant(end), ids[room] if room in ids else raw.id(room),
                      days.get(day) or raw.day(day), slot.capacity, slot.booked, slot.held, slot.status)
            wanted.add(key)
            row = rows.get(key)
            if row is None:
                inserts.append((raw.new_id(), org_raw, provider_raw, *key, *values, raw_now))
            elif row[1:] != values:
                updates.append((*values, raw_now, row[0]))
    gone = [row[0] for key, row in rows.items() if key not in wanted]
    stale += gone
    return bool(gone) or len(inserts) + len(updates) > before


def _existing_rows(connection, raw: _Raw, provider_ids: list[uuid.UUID], first_day: date,
                   last_day: date) -> dict:
    """provider raw id -> {raw key: (raw id, *raw values)} of the rows on these dates, read
    with the driver's own types (no SQLAlchemy result processing)."""
    marks = ", ".join([raw.mark] * len(provider_ids))
    columns = ", ".join(raw.column(name) for name in ("provider_id", *_KEY, "id", *_VALUES))
    sql = (f"SELECT {columns} FROM {_TABLE} "
           f"WHERE provider_id IN ({marks}) AND local_date >= {raw.mark} AND local_date <= {raw.mark}")
    params = (*[raw.id(i) for i in provider_ids], raw.day(first_day), raw.day(last_day))
    cursor = connection.connection.cursor()  # the DBAPI cursor: plain tuples, fetched at once
    try:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    grouped: dict = {}
    for row in rows:  # (provider, *key, id, *values)
        provider_rows = grouped.get(row[0])
        if provider_rows is None:
            provider_rows = grouped[row[0]] = {}
        provider_rows[row[1:4]] = row[4:]
    return grouped


def _write(connection, raw: _Raw, inserts: list, updates: list, stale: list) -> None:
    mark = raw.mark
    columns = ", ".join(("id", "organization_id", "provider_id", *_KEY, *_VALUES, "computed_at"))
    if inserts and raw.sqlite:
        connection.exec_driver_sql(
            f"INSERT INTO {_TABLE} ({columns}) VALUES ({', '.join([mark] * (len(_KEY) + len(_VALUES) + 4))})",
            inserts)
    elif inserts:  # COPY: ~10x faster than psycopg's pipelined executemany for a cold start
        with connection.connection.cursor() as cursor, cursor.copy(f"COPY {_TABLE} ({columns}) FROM STDIN") as copy:
            for row in inserts:
                copy.write_row(row)
    if updates:
        assignments = ", ".join(f"{name} = {mark}" for name in (*_VALUES, "computed_at"))
        connection.exec_driver_sql(f"UPDATE {_TABLE} SET {assignments} WHERE id = {mark}", updates)
    if stale:
        connection.exec_driver_sql(f"DELETE FROM {_TABLE} WHERE id = {mark}", [(row_id,) for row_id in stale])
