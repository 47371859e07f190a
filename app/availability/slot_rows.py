"""Slot rows in the database driver's own values: read, diff against the engine, write.

Shared by both writers of `availability_slots`: reconcile's batch path
(app/availability/batch_refresh.py) and the one-provider refresh of holds and the
commit-time triggers (app/availability/materialize.py). A slot keeps its id while it
exists; only rows that differ are written; the caller commits.

Why raw values (cProfile, docs/performance-background.md): reading the existing rows
through SQLAlchemy's type processing (UUID objects, the UTC datetime decorator, per
column per row) was ~42% of an unchanged reconcile, and binding 143,000 new rows through
the same decorators cost about as much as SQLite's own inserts. So the existing rows are
read with the DBAPI cursor, each fresh slot is encoded once into the same form (ids and
instants memoised: a batch repeats few ids and a 60-day grid of instants), and writes go
to the driver as plain executemany (PostgreSQL inserts: COPY, its text format written
here). Raw values are a faithful encoding: equal raw tuples mean equal slots on both
backends (SQLite stores what SQLAlchemy writes: 32-hex ids, "YYYY-MM-DD HH:MM:SS.ffffff"
UTC text, ISO dates; psycopg returns ids selected as text and aware datetimes).
"""
from __future__ import annotations

import uuid
from contextlib import ExitStack
from datetime import date, datetime, timezone

from app.ids import uuid7_ints
from app.models import AvailabilitySlot

TABLE = AvailabilitySlot.__table__.name
KEY = ("appointment_type_id", "location_id", "start_at")
VALUES = ("end_at", "room_id", "local_date", "capacity", "booked", "held", "status")
_UUID_COLUMNS = {"id", "organization_id", "provider_id", "appointment_type_id", "location_id", "room_id"}


class RawValues:
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

    def column(self, name: str) -> str:
        """How to select a column so it arrives in this raw form (PostgreSQL: uuids as text,
        whose hashes are cached, unlike uuid.UUID's Python-level __hash__)."""
        return name if self.sqlite or name not in _UUID_COLUMNS else f"CAST({name} AS TEXT)"


def diff_rows(raw: RawValues, organization_id: uuid.UUID, provider_id: uuid.UUID, fresh: list, rows: dict,
              now: datetime, inserts: list, updates: list, stale: list) -> bool:
    """Append to inserts/updates/stale what makes the provider's `rows` (from `existing_rows`)
    equal `fresh` ((raw type id, engine slots) pairs); True when anything differs.

    Inserts are appended without their id (`write_rows` numbers them in one go). The hot
    loop of a recompute (~1,400 slots per provider-type): memo lookups, tuple compares.
    """
    ids, instants, days = raw.ids, raw.instants, raw.days
    raw_now, org_raw, provider_raw = raw.instant(now), raw.id(organization_id), raw.id(provider_id)
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
                inserts.append((org_raw, provider_raw, *key, *values, raw_now))
            elif row[1:] != values:
                updates.append((*values, raw_now, row[0]))
    gone = [row[0] for key, row in rows.items() if key not in wanted]
    stale += gone
    return bool(gone) or len(inserts) + len(updates) > before


def existing_rows(connection, raw: RawValues, provider_ids: list[uuid.UUID], first_day: date,
                  last_day: date) -> dict:
    """provider raw id -> {raw key: (raw id, *raw values)} of the rows on these dates, read
    with the driver's own types (no SQLAlchemy result processing), in one query."""
    if not provider_ids:
        return {}
    marks = ", ".join([raw.mark] * len(provider_ids))
    columns = ", ".join(raw.column(name) for name in ("provider_id", *KEY, "id", *VALUES))
    sql = (f"SELECT {columns} FROM {TABLE} "
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


_COLUMNS = ("id", "organization_id", "provider_id", *KEY, *VALUES, "computed_at")


def write_rows(connection, raw: RawValues, inserts: list, updates: list, stale: list) -> None:
    """Insert (rows from `diff_rows`, given new ids here), update and delete, one statement each."""
    with InsertStream(connection, raw) as stream:
        stream.add(inserts)
    write_changes(connection, raw, updates, stale)


def write_changes(connection, raw: RawValues, updates: list, stale: list) -> None:
    """The updates and deletes from `diff_rows`: one executemany each."""
    mark = raw.mark
    if updates:
        assignments = ", ".join(f"{name} = {mark}" for name in (*VALUES, "computed_at"))
        connection.exec_driver_sql(f"UPDATE {TABLE} SET {assignments} WHERE id = {mark}", updates)
    if stale:
        connection.exec_driver_sql(f"DELETE FROM {TABLE} WHERE id = {mark}", [(row_id,) for row_id in stale])


class InsertStream:
    """New slot rows, numbered here (UUIDv7s in one go) and sent as they come.

    SQLite: collected, then one executemany at close. PostgreSQL: one COPY in text format,
    opened at the first row; each `add` formats its rows and sends them, so the server
    stores one provider's rows while the caller computes the next (on 2 cores a cold start
    was client work + server work one after the other; COPY's own finish, the server
    inserting and checking 143,000 rows against five indexes and five foreign keys, was
    ~half of it). While the COPY is open the connection runs nothing else: the caller
    must not query (or lazy-load) between `add`s. The lines are formatted here (every
    value is a memoised text, a number or a status word, none needing escapes) rather
    than by `Copy.write_row` (psycopg's per-field dumpers: ~60% of the client's time).
    PostgreSQL reads a uuid written as 32 hex digits, and `timestamptz` text with offset.
    """

    def __init__(self, connection, raw: RawValues):
        self.connection, self.raw = connection, raw
        self.pending: list = []
        self.text: dict = {None: "\\N"}
        self._copy = None
        self._stack = None

    def __enter__(self) -> InsertStream:
        return self

    def add(self, rows: list) -> None:
        if not rows:
            return
        if self.raw.sqlite:
            self.pending += rows
            return
        if self._copy is None:
            self._stack = ExitStack()
            cursor = self._stack.enter_context(self.connection.connection.cursor())
            self._copy = self._stack.enter_context(
                cursor.copy(f"COPY {TABLE} ({', '.join(_COLUMNS)}) FROM STDIN"))
        self._copy.write(self._lines(rows))

    def _lines(self, rows: list) -> bytes:
        text = self.text

        def field(value) -> str:
            try:
                return text[value]
            except KeyError:
                rendered = text[value] = value.isoformat() if isinstance(value, (datetime, date)) else str(value)
                return rendered

        lines = []
        for new, row in zip(uuid7_ints(len(rows)), rows):
            org, provider, type_id, location, start, end, room, day, capacity, booked, held, status, computed = row
            lines.append(f"{new:032x}\t{field(org)}\t{field(provider)}\t{field(type_id)}\t{field(location)}\t"
                         f"{field(start)}\t{field(end)}\t{field(room)}\t{field(day)}\t{capacity}\t{booked}\t"
                         f"{held}\t{field(status)}\t{field(computed)}\n")
        return "".join(lines).encode()

    def __exit__(self, kind, value, traceback) -> None:
        if self._stack is not None:
            stack, self._stack, self._copy = self._stack, None, None
            stack.__exit__(kind, value, traceback)  # ends the COPY (an error aborts it)
        elif self.pending and kind is None:
            mark = self.raw.mark
            ids = uuid7_ints(len(self.pending))
            self.connection.exec_driver_sql(
                f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join([mark] * len(_COLUMNS))})",
                [(f"{new:032x}", *row) for new, row in zip(ids, self.pending)])
        self.pending = []
