"""Recompute many providers' slots at once, writing only the rows that differ (reconcile's path).

Same contract as `materialize.refresh_provider_days` (a slot keeps its id while it exists,
only the difference is written, the caller commits), built for volume: reconcile runs it
on 100 providers x 60 days (~143,000 rows) and must take <= 10 s from empty and <= 2 s
when nothing changed (bench/availability.py). Rows are read, compared and written in the
driver's own values (app/availability/slot_rows.py).

Where an unchanged run's time went (cProfile, 100 providers x 60 days, before the
fingerprints; docs/performance-background.md): the engine ~50%, comparing its ~143,000
slots with the rows ~30%, reading the rows ~20%, loading inputs ~3%. So a provider whose
inputs and rows are what reconcile last verified (app/availability/fingerprints.py) is
skipped: no engine, no row read; one aggregate query per batch checks the rows.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.availability import fingerprints, inputs
from app.availability.cache import bump_after_commit
from app.availability.fingerprints import Verified
from app.availability.materialize import horizon
from app.availability.slot_rows import InsertStream, RawValues, diff_rows, existing_rows, write_changes
from app.extensions import db
from app.models import Provider, utcnow
from app.scheduling.engine import compute_slots


@dataclass
class BatchResult:
    changed_rows: int = 0
    skipped: int = 0  # providers whose stored record still held: not recomputed
    verified: dict[uuid.UUID, Verified] = field(default_factory=dict)  # to store once committed


def refresh_providers(provider_ids: Sequence[uuid.UUID], first_day: date, last_day: date,
                      now: datetime | None = None, known: Mapping[uuid.UUID, Verified] | None = None
                      ) -> BatchResult:
    """Recompute these providers' slots on local dates first_day..last_day (clipped to the
    horizon) and write the difference. The caller commits, then stores `result.verified`
    (`fingerprints.save`).

    `known`: the providers' stored records; a provider whose record matches its current
    inputs and rows, and is still valid at `now`, is skipped. None: recompute everyone and
    record nothing. One query per kind of input for the whole batch (`inputs.load_many`),
    one for the records' row digests, one for the recomputed providers' existing rows,
    then one statement per kind of write.
    """
    now = now or utcnow()
    low, high = horizon(now)
    first_day, last_day = max(first_day, low), min(last_day, high)
    result = BatchResult()
    if first_day > last_day or not provider_ids:
        return result
    providers = list(db.session.scalars(
        select(Provider).options(selectinload(Provider.locations)).where(Provider.id.in_(list(provider_ids)))))
    active = [p for p in providers if p.is_active]
    loaded = inputs.load_many(active, first_day, last_day)
    connection = db.session.connection()
    dialect = connection.dialect.name
    raw = RawValues(dialect)

    def fingerprint(provider: Provider, found) -> str:
        return fingerprints.inputs_fingerprint(dialect, provider.id, provider.organization_id, provider.is_active,
                                               found, first_day, last_day)

    prints = {p.id: fingerprint(p, loaded.get(p.id)) for p in providers} if known is not None else {}
    candidates = [p.id for p in providers if p.id in known and known[p.id].inputs == prints[p.id]
                  and fingerprints.still_valid(known[p.id], now)] if known else []
    digests = fingerprints.rows_digests(connection, raw, candidates, first_day, last_day)
    skip = {pid for pid in candidates if digests[pid] == known[pid].rows}
    result.skipped = len(skip)
    todo = [p for p in providers if p.id not in skip]
    if not todo:
        return result

    existing = existing_rows(connection, raw, [p.id for p in todo], first_day, last_day)
    # Everything the loop needs, read before it: while the insert stream is open
    # (PostgreSQL's COPY) the connection must run no other statement.
    work = [(p.id, p.organization_id, loaded.get(p.id)) for p in todo]
    types = {provider_id: [(kind.id, spec) for kind, spec in found.types] if found else []
             for provider_id, _org, found in work}
    inserted, updates, stale = 0, [], []
    limits = {}
    with InsertStream(connection, raw) as stream:
        for provider_id, organization_id, found in work:
            fresh = {type_id: compute_slots(
                spec=spec, rules=found.rules, first_day=first_day, last_day=last_day, now=now,
                extra_windows=found.extra_windows, blocked=found.blocked, occupancy=found.occupancy,
                room_capacities=found.room_capacities, include_unavailable=True)
                for type_id, spec in types[provider_id]}
            inserts: list = []
            if diff_rows(raw, organization_id, provider_id, [(raw.id(k), s) for k, s in fresh.items()],
                         existing.get(raw.id(provider_id), {}), now, inserts, updates, stale):
                bump_after_commit(db.session(), provider_id, organization_id)
            stream.add(inserts)
            inserted += len(inserts)
            if known is not None:
                limits[provider_id] = fingerprints.valid_until(found, fresh, now, first_day, last_day)
    write_changes(connection, raw, updates, stale)
    result.changed_rows = inserted + len(updates) + len(stale)
    if known is not None:
        result.verified = _records(connection, raw, todo, prints, limits, first_day, last_day, fingerprint)
    return result


def _records(connection, raw: RawValues, todo: list[Provider], prints: dict, limits: dict, first_day: date,
             last_day: date, fingerprint) -> dict[uuid.UUID, Verified]:
    """Records for the recomputed providers, their rows now equal to the engine's answer.

    On PostgreSQL another transaction may commit between this batch's reads and its
    writes (reconcile takes no provider locks); the inputs are read again after the rows'
    digest, and a provider whose inputs moved meanwhile gets no record (next run:
    recompute). SQLite's write lock, held from BEGIN, already excludes that.
    """
    keep = list(todo)
    digests = fingerprints.rows_digests(connection, raw, [p.id for p in keep], first_day, last_day)
    if not raw.sqlite and keep:
        again = inputs.load_many([p for p in keep if p.is_active], first_day, last_day)
        keep = [p for p in keep if fingerprint(p, again.get(p.id)) == prints[p.id]]
    return {p.id: Verified(prints[p.id], digests[p.id], limits[p.id]) for p in keep}
