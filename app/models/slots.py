"""The materialized, public-safe projection of availability (no patient data, no reasons)."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, enum_check, utcnow
from app.models.organization import TenantMixin

SLOT_STATUSES = ("open", "partial", "full", "blocked")


class AvailabilitySlot(IdMixin, TenantMixin, Base):
    __tablename__ = "availability_slots"
    __table_args__ = (
        CheckConstraint(enum_check("status", SLOT_STATUSES), name="status_valid"),
        CheckConstraint("end_at > start_at", name="end_after_start"),
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("booked >= 0 AND held >= 0", name="counts_non_negative"),
        UniqueConstraint("provider_id", "appointment_type_id", "location_id", "start_at"),
        Index(None, "provider_id", "appointment_type_id", "start_at"),
        Index(None, "location_id", "appointment_type_id", "start_at"),
        Index(None, "provider_id", "local_date"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    appointment_type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment_types.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    room_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rooms.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    local_date: Mapped[date]  # the provider-day this slot belongs to, in the location's zone
    capacity: Mapped[int]
    booked: Mapped[int] = mapped_column(default=0)
    held: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(20), default="open")
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
