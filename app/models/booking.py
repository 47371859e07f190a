"""Bookings and their append-only audit trail (which doubles as the outbox)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, String, func, text
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, EncryptedText, IdMixin, TimestampMixin, enum_check, utcnow
from app.models.organization import TenantMixin
from app.scheduling.types import OCCUPYING_STATUSES  # the one definition; re-exported for queries

BOOKING_STATUSES = ("held", "pending", "confirmed", "declined", "cancelled", "expired", "completed", "no_show")
SOURCES = ("portal", "staff", "api")
CANCELLED_BY = ("patient", "staff", "system")
HOLDER_COLUMNS = ("holder_session", "holder_email", "holder_phone")


class Booking(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint(enum_check("status", BOOKING_STATUSES), name="status_valid"),
        CheckConstraint(enum_check("source", SOURCES), name="source_valid"),
        CheckConstraint(f"cancelled_by IS NULL OR {enum_check('cancelled_by', CANCELLED_BY)}", name="cancelled_by_valid"),
        CheckConstraint("end_at > start_at", name="end_after_start"),
        CheckConstraint("block_start_at <= start_at AND block_end_at >= end_at", name="block_covers_visit"),
        CheckConstraint("reschedule_count >= 0", name="reschedule_count_non_negative"),
        CheckConstraint("status <> 'held' OR hold_expires_at IS NOT NULL", name="hold_has_expiry"),
        CheckConstraint("patient_id IS NOT NULL OR guest_name IS NOT NULL", name="has_patient_or_guest"),
        Index(None, "provider_id", "start_at"),
        Index(None, "organization_id", "status", "start_at"),
        Index(None, "patient_id", "start_at"),
        Index("ix_bookings_held_expiry", "hold_expires_at", sqlite_where=text("status = 'held'"),
              postgresql_where=text("status = 'held'")),
        CheckConstraint("seat IS NULL OR seat >= 0", name="seat_non_negative"),
        # The hold cap's per-person counts (app/booking/hold_limits.py) read only live holds.
        *(Index(f"ix_bookings_held_{column}", column, sqlite_where=text("status = 'held'"),
                postgresql_where=text("status = 'held'")) for column in HOLDER_COLUMNS),
        # PostgreSQL's last line of defence against overbooking: two occupying bookings
        # of one provider never hold the same place (seat) at overlapping times. The
        # services choose seats and check capacity; this catches any bug that slips by.
        ExcludeConstraint(
            (Column("provider_id"), "="), (Column("seat"), "="),
            (func.tstzrange(Column("block_start_at"), Column("block_end_at"), "[)"), "&&"),
            name="ex_bookings_provider_seat_overlap", using="gist",
            where=text("status IN ('held', 'pending', 'confirmed')"),
        ).ddl_if(dialect="postgresql"),
        CheckConstraint("room_seat IS NULL OR room_seat >= 0", name="room_seat_non_negative"),
        # The same guard for rooms, which providers share: two occupying bookings in one
        # room never hold the same room place at overlapping times; a trigger (migration
        # 0004) keeps room_seat below the room's capacity.
        ExcludeConstraint(
            (Column("room_id"), "="), (Column("room_seat"), "="),
            (func.tstzrange(Column("block_start_at"), Column("block_end_at"), "[)"), "&&"),
            name="ex_bookings_room_seat_overlap", using="gist",
            where=text("status IN ('held', 'pending', 'confirmed') AND room_id IS NOT NULL"),
        ).ddl_if(dialect="postgresql"),
    )

    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    guest_name: Mapped[str | None] = mapped_column(String(200))
    guest_email: Mapped[str | None] = mapped_column(EncryptedText())
    guest_phone: Mapped[str | None] = mapped_column(EncryptedText())
    # keyed digests of the guest's E.164 phone and email, kept by app/patients/phone_index.py
    guest_phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    guest_email_index: Mapped[str | None] = mapped_column(String(64), index=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    appointment_type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment_types.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    room_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rooms.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    # The span the provider is occupied: the visit plus the type's buffers.
    block_start_at: Mapped[datetime]
    block_end_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    hold_expires_at: Mapped[datetime | None]
    hold_token_hash: Mapped[str | None] = mapped_column(String(64))  # SHA-256; the token itself is never stored
    reschedule_count: Mapped[int] = mapped_column(default=0)
    seat: Mapped[int | None]  # which of the provider's places this booking holds (see ex_bookings_...)
    room_seat: Mapped[int | None]  # which of the room's places it holds (None without a room)
    source: Mapped[str] = mapped_column(String(20), default="portal")
    cancelled_by: Mapped[str | None] = mapped_column(String(20))
    cancel_reason: Mapped[str | None] = mapped_column(EncryptedText())  # may carry health details
    notes: Mapped[str | None] = mapped_column(EncryptedText())
    # Who holds a portal or API hold, as keyed digests (crypto.blind_index): the browser
    # session, the guest's email and phone. Staff holds leave them empty.
    holder_session: Mapped[str | None] = mapped_column(String(64))
    holder_email: Mapped[str | None] = mapped_column(String(64))
    holder_phone: Mapped[str | None] = mapped_column(String(64))
    patient_timezone: Mapped[str | None] = mapped_column(String(64))
    provider_timezone: Mapped[str | None] = mapped_column(String(64))
    confirmed_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    patient = relationship("User", foreign_keys=[patient_id])
    provider = relationship("Provider")
    appointment_type = relationship("AppointmentType")
    location = relationship("Location")
    room = relationship("Room")

    @property
    def contact_name(self) -> str:
        return self.patient.full_name if self.patient is not None else (self.guest_name or "")


class BookingEvent(IdMixin, TenantMixin, TimestampMixin, Base):
    """One row per change, and the outbox (docs/outbox.md): `handled_at` is set in the transaction
    that created the work the event causes (notification rows, ...); `published_at` once its
    live-update message went out on Redis pub/sub."""

    __tablename__ = "booking_events"
    __table_args__ = (
        Index(None, "booking_id", "created_at"),
        Index("ix_booking_events_unpublished", "created_at", sqlite_where=text("published_at IS NULL"),
              postgresql_where=text("published_at IS NULL")),
        Index("ix_booking_events_unhandled", "created_at", sqlite_where=text("handled_at IS NULL"),
              postgresql_where=text("handled_at IS NULL")),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str | None] = mapped_column(String(20))  # 'guest' and 'system' included
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    data: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    published_at: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]

    booking: Mapped[Booking] = relationship()
