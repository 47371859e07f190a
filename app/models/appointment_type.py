"""What can be booked, and the policies that govern it."""
from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, IdMixin, TimestampMixin, enum_check
from app.models.organization import TenantMixin
from app.models.provider import Provider

MODES = ("in_person", "video", "phone")

appointment_type_providers = Table(
    "appointment_type_providers",
    Base.metadata,
    Column("appointment_type_id", ForeignKey("appointment_types.id", ondelete="CASCADE"), primary_key=True),
    Column("provider_id", ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True),
)


class AppointmentType(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "appointment_types"
    __table_args__ = (
        CheckConstraint("duration_minutes >= 1", name="duration_positive"),
        CheckConstraint("buffer_before_minutes >= 0 AND buffer_after_minutes >= 0", name="buffers_non_negative"),
        CheckConstraint("seats >= 1", name="seats_positive"),
        CheckConstraint("slot_interval_minutes IS NULL OR slot_interval_minutes >= 1", name="interval_positive"),
        CheckConstraint("min_notice_minutes >= 0", name="min_notice_non_negative"),
        CheckConstraint("max_future_days >= 1", name="max_future_positive"),
        CheckConstraint("price_cents IS NULL OR price_cents >= 0", name="price_non_negative"),
        CheckConstraint("max_reschedules IS NULL OR max_reschedules >= 0", name="max_reschedules_non_negative"),
        CheckConstraint("cancel_notice_minutes IS NULL OR cancel_notice_minutes >= 0", name="cancel_notice_non_negative"),
        CheckConstraint(enum_check("mode", MODES), name="mode_valid"),
    )

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    duration_minutes: Mapped[int]
    buffer_before_minutes: Mapped[int] = mapped_column(default=0)
    buffer_after_minutes: Mapped[int] = mapped_column(default=0)
    price_cents: Mapped[int | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    mode: Mapped[str] = mapped_column(String(20), default="in_person")
    seats: Mapped[int] = mapped_column(default=1)
    min_notice_minutes: Mapped[int] = mapped_column(default=0)
    max_future_days: Mapped[int] = mapped_column(default=60)
    slot_interval_minutes: Mapped[int | None]
    requires_approval: Mapped[bool] = mapped_column(default=False)
    allow_patient_reschedule: Mapped[bool] = mapped_column(default=True)
    max_reschedules: Mapped[int | None]
    cancel_notice_minutes: Mapped[int | None]
    default_location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("locations.id"))
    default_room_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rooms.id"))
    is_active: Mapped[bool] = mapped_column(default=True)

    providers: Mapped[list[Provider]] = relationship(secondary=appointment_type_providers, order_by="Provider.display_name")
