"""Busy times from external calendars: upserted inside the caller's write transaction.

Rows are added, changed and deleted through the ORM so the slot triggers
(app/availability/triggers.py) recompute exactly the provider-days they touch
before the same transaction commits, and live pages follow.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterable

from sqlalchemy import func, insert, select

from app.calendars.busy import BusyInterval
from app.calendars.ports import FetchResult, SourceChanges
from app.extensions import db
from app.models import CalendarConnection, CalendarSource, ExternalBusyTime, new_id, utcnow

CHUNK = 500


def _rows(source_id: uuid.UUID, uids: Iterable[str] | None = None) -> list[ExternalBusyTime]:
    query = select(ExternalBusyTime).where(ExternalBusyTime.source_id == source_id)
    if uids is None:
        return list(db.session.scalars(query))
    uids = list(uids)
    found: list[ExternalBusyTime] = []
    for index in range(0, len(uids), CHUNK):
        found += db.session.scalars(query.where(ExternalBusyTime.external_uid.in_(uids[index:index + CHUNK])))
    return found


def _reconcile(connection: CalendarConnection, source_id: uuid.UUID, existing: list[ExternalBusyTime],
               desired: Iterable[BusyInterval]) -> int:
    """Make `existing` equal `desired` with the fewest row changes; returns how many rows changed."""
    want = {(item.uid, item.start): item for item in desired}
    changed, now = 0, utcnow()
    for row in existing:
        item = want.pop((row.external_uid, row.start_at), None)
        if item is None:
            db.session.delete(row)
            changed += 1
        elif row.end_at != item.end:
            row.end_at, row.updated_at = item.end, now
            changed += 1
    if want:  # new rows in bulk (executemany); the provider-days they touch are marked by hand
        from app.availability.triggers import mark_instants

        rows = [{"id": new_id(), "organization_id": connection.organization_id,
                 "provider_id": connection.provider_id, "connection_id": connection.id, "source_id": source_id,
                 "external_uid": item.uid, "start_at": item.start, "end_at": item.end, "updated_at": now}
                for item in want.values()]
        db.session.execute(insert(ExternalBusyTime), rows)
        mark_instants(db.session(), connection.provider_id, min(r["start_at"] for r in rows),
                      max(r["end_at"] for r in rows))
        changed += len(rows)
    return changed


def replace_source(connection: CalendarConnection, source_id: uuid.UUID, intervals: Iterable[BusyInterval]) -> int:
    """A full sync: the source's busy times become exactly `intervals`."""
    return _reconcile(connection, source_id, _rows(source_id), intervals)


def replace_events(connection: CalendarConnection, source_id: uuid.UUID,
                   changed: dict[str, list[BusyInterval]]) -> int:
    """An incremental sync: each named event's busy times become its new intervals ([] removes it)."""
    desired = [item for items in changed.values() for item in items]
    return _reconcile(connection, source_id, _rows(source_id, changed.keys()), desired)


def clear_source(connection: CalendarConnection, source_id: uuid.UUID) -> int:
    return _reconcile(connection, source_id, _rows(source_id), [])


def clear_connection(connection: CalendarConnection) -> int:
    """Every busy time the connection brought (before it is deleted: the triggers must see the rows go)."""
    rows = list(db.session.scalars(select(ExternalBusyTime).where(ExternalBusyTime.connection_id == connection.id)))
    for row in rows:
        db.session.delete(row)
    return len(rows)


def apply_fetch(connection: CalendarConnection, result: FetchResult) -> int:
    """Store one adapter fetch: busy times per source, and the sources' and connection's cursors."""
    changed = 0
    if result.discovered is not None:
        changed += _discover(connection, result.discovered)
    sources = {s.external_id: s for s in connection.sources}
    for found in result.sources:
        source = sources.get(found.external_id)
        if source is None:  # removed while we fetched
            continue
        changed += _apply_source(connection, source, found)
    if result.cursor is not None:
        connection.sync_cursor = json.dumps(result.cursor)
    return changed


def _apply_source(connection: CalendarConnection, source: CalendarSource, found: SourceChanges) -> int:
    if not source.blocks_time:
        changed = clear_source(connection, source.id)
    elif found.full:
        changed = replace_source(connection, source.id, found.intervals)
    else:
        changed = replace_events(connection, source.id, found.changed)
    if found.sync_token is not None or found.full:
        source.sync_token = found.sync_token
    if found.ctag is not None:
        source.ctag = found.ctag
    if found.etags is not None:
        source.etags = json.dumps(found.etags)
    return changed


def _discover(connection: CalendarConnection, discovered: list[tuple[str, str]]) -> int:
    """Calendars seen on the server become sources: at the first discovery every calendar blocks
    time (the provider unticks what should not); calendars that appear later do not until chosen."""
    known = {s.external_id: s for s in connection.sources}
    added = 0
    first_time = not known
    for external_id, name in discovered:
        if external_id in known:
            known[external_id].name = name[:200] or known[external_id].name
            continue
        source = CalendarSource(id=new_id(), organization_id=connection.organization_id,
                                connection_id=connection.id, external_id=external_id[:1000],
                                name=(name or external_id)[:200], blocks_time=first_time, is_destination=False)
        db.session.add(source)
        connection.sources.append(source)
        added += 1
    return added


def busy_count(connection_id: uuid.UUID) -> int:
    return db.session.scalar(select(func.count()).select_from(ExternalBusyTime)
                             .where(ExternalBusyTime.connection_id == connection_id)) or 0
