"""External calendars (CalDAV, ICS, signed webhooks, Google) and what they bring in and out.

A `CalendarConnection` belongs to one provider and has `CalendarSource`s: the
calendars chosen to block time and at most one destination for write-back.
Imports become `ExternalBusyTime` rows (only instants, never titles); write-back
goes through `CalendarEventLink` (desired vs applied state per booking and
connection); Google push channels are `GooglePushChannel`s. See docs/calendars.md.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, EncryptedText, IdMixin, TimestampMixin, enum_check, utcnow
from app.models.organization import TenantMixin

CALENDAR_KINDS = ("google", "caldav", "ics", "webhook")
CONNECTION_STATUSES = ("pending", "ok", "error", "reauth_required")
LINK_STATES = ("present", "absent")


class CalendarConnection(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "calendar_connections"
    __table_args__ = (
        CheckConstraint(enum_check("kind", CALENDAR_KINDS), name="kind_valid"),
        CheckConstraint(enum_check("status", CONNECTION_STATUSES), name="status_valid"),
        CheckConstraint("consecutive_failures >= 0", name="failures_non_negative"),
        Index(None, "next_sync_at"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(EncryptedText())  # feed or server URL (feed URLs carry secrets)
    credentials: Mapped[str | None] = mapped_column(EncryptedText())  # JSON, encrypted at rest
    webhook_secret: Mapped[str | None] = mapped_column(EncryptedText())
    sync_cursor: Mapped[str | None] = mapped_column(Text)  # JSON: ETag / Last-Modified of a feed
    status: Mapped[str] = mapped_column(String(20), default="pending")
    push_bookings: Mapped[bool] = mapped_column(default=False)
    last_synced_at: Mapped[datetime | None]  # last success
    last_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)  # in words, never a secret
    next_sync_at: Mapped[datetime | None]
    sync_requested_at: Mapped[datetime | None]  # "Sync now": due at once
    full_sync_due: Mapped[bool] = mapped_column(default=True)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    poll_seconds: Mapped[int | None]  # None: the kind's default
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]

    sources: Mapped[list[CalendarSource]] = relationship(
        back_populates="connection", order_by="CalendarSource.name", cascade="all, delete-orphan",
        passive_deletes=True)


class CalendarSource(IdMixin, TenantMixin, Base):
    """One calendar of a connection (a CalDAV collection, the feed, the webhook stream)."""

    __tablename__ = "calendar_sources"
    __table_args__ = (UniqueConstraint("connection_id", "external_id"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendar_connections.id", ondelete="CASCADE"),
                                                     index=True)
    external_id: Mapped[str] = mapped_column(String(1000))  # collection URL, "feed" or "webhook"
    name: Mapped[str] = mapped_column(String(200))
    blocks_time: Mapped[bool] = mapped_column(default=True)
    is_destination: Mapped[bool] = mapped_column(default=False)
    sync_token: Mapped[str | None] = mapped_column(Text)  # CalDAV sync-collection token
    ctag: Mapped[str | None] = mapped_column(String(500))
    etags: Mapped[str | None] = mapped_column(Text)  # JSON {href: [etag, uid]} for the etag fallback

    connection: Mapped[CalendarConnection] = relationship(back_populates="sources")


class ExternalBusyTime(IdMixin, TenantMixin, Base):
    """Only the instants; the external event's title never enters Bookwell."""

    __tablename__ = "external_busy_times"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="end_after_start"),
        UniqueConstraint("connection_id", "source_id", "external_uid", "start_at"),
        Index(None, "provider_id", "start_at"),
        Index(None, "source_id", "external_uid"),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendar_connections.id", ondelete="CASCADE"))
    source_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("calendar_sources.id", ondelete="CASCADE"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    external_uid: Mapped[str] = mapped_column(String(500))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CalendarEventLink(IdMixin, TenantMixin, Base):
    """Write-back of one booking to one connection's destination: desired vs applied state.

    `desired_version` rises with every booking change; a worker applies the
    desired state with idempotent requests and records `applied_version`.
    `flagged_at` marks a written event that was moved or deleted outside Bookwell.
    """

    __tablename__ = "calendar_event_links"
    __table_args__ = (
        CheckConstraint(enum_check("desired_state", LINK_STATES), name="desired_state_valid"),
        CheckConstraint(f"applied_state IS NULL OR {enum_check('applied_state', LINK_STATES)}",
                        name="applied_state_valid"),
        UniqueConstraint("booking_id", "connection_id"),
        Index(None, "connection_id", "external_uid"),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendar_connections.id", ondelete="CASCADE"))
    external_uid: Mapped[str] = mapped_column(String(500))
    resource_href: Mapped[str | None] = mapped_column(String(2000))
    etag: Mapped[str | None] = mapped_column(String(500))
    desired_state: Mapped[str] = mapped_column(String(20), default="present")
    desired_version: Mapped[int] = mapped_column(default=1)
    applied_state: Mapped[str | None] = mapped_column(String(20))
    applied_version: Mapped[int] = mapped_column(default=0)
    sequence: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    flagged_at: Mapped[datetime | None]
    flag_reason: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookDelivery(IdMixin, Base):
    """A delivery id a webhook connection has already applied (replays are no-ops)."""

    __tablename__ = "calendar_webhook_deliveries"
    __table_args__ = (UniqueConstraint("connection_id", "delivery_id"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendar_connections.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    applied: Mapped[int] = mapped_column(default=0)


class GooglePushChannel(TenantMixin, Base):
    """A Google `events.watch` channel on one calendar source (docs/calendars.md "Push").

    `id` is the channel id Google echoes in `X-Goog-Channel-ID` (a random UUID); the
    channel token Google echoes in `X-Goog-Channel-Token` is random and only its SHA-256
    is kept. A channel is live while `stopped_at` is empty and `expires_at` is ahead;
    `resource_id` is Google's id of the watched resource (needed to stop the channel).
    """

    __tablename__ = "calendar_push_channels"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendar_connections.id", ondelete="CASCADE"),
                                                     index=True)
    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendar_sources.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(500))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    stopped_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
