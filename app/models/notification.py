"""Outgoing messages; the unique key makes each one go out exactly once."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EncryptedText, IdMixin, TimestampMixin, enum_check
from app.models.organization import TenantMixin

CHANNELS = ("email", "sms")
NOTIFICATION_STATUSES = ("pending", "sending", "sent", "failed", "cancelled")


class Notification(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(enum_check("channel", CHANNELS), name="channel_valid"),
        CheckConstraint(enum_check("status", NOTIFICATION_STATUSES), name="status_valid"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        UniqueConstraint("booking_id", "event_key", "channel", "recipient_index"),
        Index(None, "status", "scheduled_for"),
    )

    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    recipient_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    event_key: Mapped[str] = mapped_column(String(80))  # e.g. "confirmed", "reminder-24h"
    channel: Mapped[str] = mapped_column(String(10))
    template: Mapped[str] = mapped_column(String(80))
    recipient: Mapped[str] = mapped_column(EncryptedText())
    recipient_index: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    scheduled_for: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]  # a sender's lease while status is 'sending'
    language: Mapped[str] = mapped_column(String(10), default="en")
    sent_at: Mapped[datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
