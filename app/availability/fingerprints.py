"""What reconcile last verified per provider, so an unchanged provider skips the engine.

Reconcile recomputes every provider to repair drift; when nothing changed, that was ~95%
of an unchanged run (the engine ~50%, reading and comparing ~143,000 existing rows the
rest: docs/performance-background.md). After it made (or found) a provider's rows equal
to the engine's answer, it records a `Verified`:

- `inputs`: a hash of everything the engine received for that provider and range: the
  provider (id, organization, active), the local dates, weekly rules, available and
  blocked exceptions, approved time off, bookings and other providers' bookings in shared
  rooms, external busy times, room capacities, each active type's spec, plus the code
  that turns them into rows (the engine's and this package's source) and the dialect;
- `rows`: a digest of the provider's slot rows on those dates as committed (count and
  sums over id, key and every compared value, computed by the database: `rows_digests`);
- `valid_until`: the engine also reads the clock. Until this instant the same inputs give
  the same rows: the earliest slot start minus its type's notice (a slot before
  now + notice disappears as time passes), the earliest expiry of a live hold (an
  expired hold stops occupying) and, where a type's booking horizon (now +
  max_future_days) ends inside the range, the moment it reaches the next grid position.

A later reconcile of the same range skips the provider only when the stored record
matches both hashes and `now < valid_until`; anything else (no record, Redis down or
flushed, a new day shifting the horizon, rows changed behind the engine's back) means
recompute. Records live in Redis (`bookwell:reconcile:verified:<provider>`, two days),
written after the transaction commits, so a lost record costs only a recompute.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

import redis

from app.availability.inputs import ProviderInputs, day_bounds
from app.availability.slot_rows import TABLE, RawValues
from app.redis_client import get_redis
from app.scheduling.engine import compute_slots

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the meaning of a record changes
TTL_SECONDS = 2 * 24 * 3600


@dataclass(frozen=True)
class Verified:
    inputs: str
    rows: str
    valid_until: datetime | None  # None: no clock dependence in the range


@cache
def _code_digest() -> str:
    """The source of everything between the inputs and the rows: a deploy that changes the
    engine or the row encoding invalidates every record."""
    package = Path(__file__).resolve().parent
    files = sorted((package.parent / "scheduling").glob("*.py")) + [
        package / name for name in ("inputs.py", "slot_rows.py", "batch_refresh.py", "fingerprints.py")]
    digest = hashlib.blake2b(digest_size=16)
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def inputs_fingerprint(dialect: str, provider_id: uuid.UUID, organization_id: uuid.UUID, active: bool,
                       loaded: ProviderInputs | None, first_day: date, last_day: date) -> str:
    """A hash of everything `compute_slots` receives for this provider on these dates (but `now`).

    The parts are the engine's own frozen value objects, whose reprs spell out every
    field; the only unordered parts are normalised (weekdays are small ints, whose set
    order is fixed; room capacities are sorted)."""
    parts: tuple = (FORMAT, _code_digest(), dialect, provider_id, organization_id, active, first_day, last_day)
    if loaded is not None:
        parts += (loaded.rules, loaded.extra_windows, loaded.blocked, loaded.occupancy,
                  sorted(loaded.room_capacities.items(), key=lambda item: str(item[0])),
                  tuple(spec for _, spec in loaded.types))
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def valid_until(loaded: ProviderInputs | None, fresh: Mapping, now: datetime, first_day: date,
                last_day: date) -> datetime | None:
    """Until when the engine's answer for these inputs stays the same as time passes: an
    instant, or None (no limit). `fresh`: type id -> the engine's slots (sorted by start)
    computed at `now`.

    Time changes the answer in three ways (app/scheduling/engine.py): the first slot goes
    once now + notice passes its start; a hold stops occupying at its expiry; and where a
    type's booking horizon (now + max_future_days) ends inside the range, the next grid
    position after it appears once the horizon reaches it. That position is found with
    one more engine run over the range's last days with the horizon lifted.
    """
    if loaded is None:
        return None
    limit: datetime | None = None

    def earlier(value: datetime) -> None:
        nonlocal limit
        limit = value if limit is None or value < limit else limit

    reach = max([day_bounds(first_day, last_day)[1], *(w.end for w in loaded.extra_windows)])
    for _kind, spec in loaded.types:
        slots = fresh.get(spec.id)
        if slots:
            earlier(slots[0].start - timedelta(minutes=spec.min_notice_minutes))
        horizon_end = now + timedelta(days=spec.max_future_days)
        if horizon_end < reach:  # every position a window of the range can offer lies before `reach`
            # The days whose windows can reach past the horizon: a rule's window is shorter
            # than a day; an available exception may be longer and belongs to its first day.
            tail_first = min([horizon_end.date() - timedelta(days=2),
                              *(w.start.date() - timedelta(days=1) for w in loaded.extra_windows
                                if w.end > horizon_end)])
            tail = compute_slots(
                spec=replace(spec, max_future_days=_UNBOUNDED_DAYS), rules=loaded.rules,
                first_day=max(first_day, tail_first), last_day=last_day, now=now,
                extra_windows=loaded.extra_windows, blocked=loaded.blocked, occupancy=loaded.occupancy,
                room_capacities=loaded.room_capacities, include_unavailable=True)
            beyond = [slot.start for slot in tail if slot.start > horizon_end]
            if beyond:  # included once now + max_future_days >= its start
                earlier(min(beyond) - timedelta(days=spec.max_future_days))
    for item in loaded.occupancy:
        if item.status == "held" and item.expires_at is not None and item.expires_at > now:
            earlier(item.expires_at)  # the hold stops occupying at its expiry
    return limit


_UNBOUNDED_DAYS = 36_500


def still_valid(record: Verified, now: datetime) -> bool:
    return record.valid_until is None or now < record.valid_until


def rows_digests(connection, raw: RawValues, provider_ids: Iterable[uuid.UUID], first_day: date,
                 last_day: date) -> dict[uuid.UUID, str]:
    """provider id -> digest of its slot rows on these dates (count and sums over id, key
    and compared values), computed by the database in one query."""
    ids = list(provider_ids)
    if not ids:
        return {}
    marks = ", ".join([raw.mark] * len(ids))
    if raw.sqlite:
        # SQLite has no hash function, and a Python one (crc32 of the row's text) cost ~1 s
        # per 143,000 rows; these sums of plain SQL cost ~0.25 s (strftime instead of
        # julianday: 0.75 s). Summed in index order, so equal rows give equal floats. `rowid` changes with any
        # delete + insert; the rest covers every compared value (ids by their last, random
        # hex digit and the room by presence: a checksum against accidents, not forgery).
        aggregates = ("count(*), sum(rowid), sum(capacity + 7 * booked + 131 * held + 1031 * unicode(status)"
                      " + 65537 * ifnull(length(room_id), 0) + 1048573 * unicode(substr(id, 32))"
                      " + 134217689 * unicode(substr(appointment_type_id, 32))"
                      " + 17179869143 * unicode(substr(location_id, 32))),"
                      " total(julianday(start_at)), total(julianday(end_at)), total(julianday(local_date))")
        provider = "provider_id"
    else:  # a real hash per column (PostgreSQL's own hash functions, no text conversion:
        # ~0.2 s per 143,000 rows against ~0.35 s hashing a concatenated text), each
        # 64-bit hash scaled down so eleven of them add up within bigint.
        aggregates = ("count(*), sum(uuid_hash_extended(id, 1) / 64 + uuid_hash_extended(appointment_type_id, 2) / 64"
                      " + uuid_hash_extended(location_id, 3) / 64 + coalesce(uuid_hash_extended(room_id, 4) / 64, 5)"
                      " + timestamp_hash_extended(start_at AT TIME ZONE 'UTC', 6) / 64"
                      " + timestamp_hash_extended(end_at AT TIME ZONE 'UTC', 7) / 64"
                      " + hashint4extended(local_date - DATE '2000-01-01', 8) / 64 + hashint4extended(capacity, 9) / 64"
                      " + hashint4extended(booked, 10) / 64 + hashint4extended(held, 11) / 64"
                      " + hashtextextended(status, 12) / 64)")
        provider = "CAST(provider_id AS TEXT)"
    sql = (f"SELECT {provider}, {aggregates} FROM {TABLE} "
           f"WHERE provider_id IN ({marks}) AND local_date >= {raw.mark} AND local_date <= {raw.mark} "
           f"GROUP BY provider_id")
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, (*[raw.id(i) for i in ids], raw.day(first_day), raw.day(last_day)))
        found = {row[0]: ":".join(map(str, row[1:])) for row in cursor.fetchall()}
    finally:
        cursor.close()
    return {i: found.get(raw.id(i), "0") for i in ids}


def _key(provider_id: uuid.UUID) -> str:
    return f"bookwell:reconcile:verified:{provider_id}"


def load(provider_ids: list[uuid.UUID]) -> dict[uuid.UUID, Verified]:
    """The stored records of these providers (none when Redis is unavailable)."""
    if not provider_ids:
        return {}
    try:
        values = get_redis().mget([_key(p) for p in provider_ids])
    except (redis.RedisError, RuntimeError) as exc:
        log.warning("reconcile records unavailable, recomputing: %s", exc)
        return {}
    records = {}
    for provider_id, value in zip(provider_ids, values):
        if value is None:
            continue
        try:
            inputs, rows, until = value.decode().split("|")
            records[provider_id] = Verified(inputs, rows, datetime.fromisoformat(until) if until else None)
        except ValueError:
            continue  # unreadable: recompute
    return records


def save(records: Mapping[uuid.UUID, Verified]) -> None:
    """Store records; call only after the transaction that wrote (or checked) the rows committed."""
    if not records:
        return
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            for provider_id, record in records.items():
                until = record.valid_until.astimezone(timezone.utc).isoformat() if record.valid_until else ""
                pipe.set(_key(provider_id), f"{record.inputs}|{record.rows}|{until}", ex=TTL_SECONDS)
            pipe.execute()
    except (redis.RedisError, RuntimeError) as exc:
        log.warning("could not store reconcile records (the next run recomputes): %s", exc)


def forget(provider_ids: Iterable[uuid.UUID]) -> None:
    """Drop records (tests, and `reconcile(full=True)` to verify every row again)."""
    keys = [_key(p) for p in provider_ids]
    if not keys:
        return
    try:
        get_redis().delete(*keys)
    except (redis.RedisError, RuntimeError) as exc:
        log.warning("could not drop reconcile records: %s", exc)
