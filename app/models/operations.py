"""Operational rows: idempotency records, job heartbeats and input versions."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EncryptedJSON, IdMixin, TimestampMixin, enum_check

IDEMPOTENCY_STATES = ("in_progress", "done")


class IdempotencyRecord(IdMixin, TimestampMixin, Base):
    """The first answer to a mutating request, replayed for 24 hours (docs/api.md)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (
        CheckConstraint(enum_check("state", IDEMPOTENCY_STATES), name="state_valid"),
        UniqueConstraint("actor_key", "key"),
    )

    actor_key: Mapped[str] = mapped_column(String(100))  # user id, or the guest session
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default="in_progress")
    response_status: Mapped[int | None]
    response_body: Mapped[Any | None] = mapped_column(EncryptedJSON)  # answers hold tokens and secrets shown once
    expires_at: Mapped[datetime] = mapped_column(index=True)


class JobHeartbeat(Base):
    """Last successful run of a periodic job, shown on /readyz."""

    __tablename__ = "job_heartbeats"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    last_run_at: Mapped[datetime]
    runs: Mapped[int] = mapped_column(default=0)
    detail: Mapped[str | None] = mapped_column(String(500))


class InputVersion(Base):
    """A value the database changes, in the same transaction, with every row an organization's
    availability is computed from besides bookings (hours, breaks, exceptions, time off, busy
    times, locations, rooms, types and who offers them, providers): triggers of migration 0012
    set a new random value. Holds keep those inputs across requests while it stays the same
    (app/availability/static_cache.py, docs/performance.md). No foreign key: a deleted
    organization's last change may still write its row."""

    __tablename__ = "input_versions"

    organization_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
