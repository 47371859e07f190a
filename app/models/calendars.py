"""External calendars (Google, CalDAV, ICS) and the busy times synced from them."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EncryptedText, IdMixin, TimestampMixin, enum_check
from app.models.organization import TenantMixin

CALENDAR_KINDS = ("google", "caldav", "ics")
CONNECTION_STATUSES = ("active", "error", "disabled")


class CalendarConnection(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "calendar_connections"
    __table_args__ = (
        CheckConstraint(enum_check("kind", CALENDAR_KINDS), name="kind_valid"),
        CheckConstraint(enum_check("status", CONNECTION_STATUSES), name="status_valid"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(200))
    credentials: Mapped[str | None] = mapped_column(EncryptedText())  # JSON, encrypted at rest
    webhook_secret: Mapped[str | None] = mapped_column(EncryptedText())
    sync_cursor: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="active")
    push_bookings: Mapped[bool] = mapped_column(default=False)
    last_synced_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class ExternalBusyTime(IdMixin, TenantMixin, Base):
    """Only the instants; the external event's title never enters Bookwell."""

    __tablename__ = "external_busy_times"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="end_after_start"),
        UniqueConstraint("connection_id", "external_uid", "start_at"),
        Index(None, "provider_id", "start_at"),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendar_connections.id", ondelete="CASCADE"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    external_uid: Mapped[str] = mapped_column(String(500))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    updated_at: Mapped[datetime]
