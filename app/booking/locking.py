"""Serialising writers per provider and per room (invariant 1, docs/invariants.md).

SQLite: `write_transaction()` already holds the database's write lock from
BEGIN (BEGIN IMMEDIATE), so writers queue one by one. PostgreSQL: transaction-
scoped advisory locks keyed by the provider and by each room its slots can use
serialise holds, accepts and reschedules that compete for the same time, while
unrelated providers proceed in parallel. Every writer takes all its locks in one
call, in ascending key order, so two writers never wait for each other in a
cycle. The exclusion constraints on bookings are the last line of defence.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

from sqlalchemy import text

from app.extensions import db


def _provider_key(provider_id: uuid.UUID) -> int:
    return int.from_bytes(provider_id.bytes[:8], "big", signed=True)


def _room_key(room_id: uuid.UUID) -> int:
    # A different derivation from providers', so a room never shares a key with a provider by construction.
    return int.from_bytes(hashlib.sha256(b"room:" + room_id.bytes).digest()[:8], "big", signed=True)


def lock_resources(provider_ids: Iterable[uuid.UUID], room_ids: Iterable[uuid.UUID] = ()) -> None:
    """Take the advisory locks of these providers and rooms, in one global order."""
    session = db.session()
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({_provider_key(p) for p in provider_ids} | {_room_key(r) for r in room_ids})
    for key in keys:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def lock_provider(provider_id: uuid.UUID) -> None:
    lock_resources([provider_id])
