"""Serialising writers per provider (invariant 1).

SQLite: `write_transaction()` already holds the database's write lock from
BEGIN (BEGIN IMMEDIATE), so writers queue one by one. PostgreSQL: a
transaction-scoped advisory lock keyed by the provider serialises holds,
accepts and reschedules of one provider while other providers proceed in
parallel; the exclusion constraint on bookings is the last line of defence.
"""
from __future__ import annotations

import uuid

from sqlalchemy import text

from app.extensions import db


def lock_provider(provider_id: uuid.UUID) -> None:
    session = db.session()
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(provider_id.bytes[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
