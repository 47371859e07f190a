"""Availability rules in local wall-clock time, exceptions and time off.

Rules are stored as their location's wall-clock times (`time` and `date`
columns); only exceptions and time off, which name concrete instants, are UTC.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, IdMixin, TimestampMixin, enum_check
from app.models.organization import TenantMixin

RULE_KINDS = ("weekly", "date_range")
EXCEPTION_STATUSES = ("blocked", "available")
TIME_OFF_STATUSES = ("pending", "approved", "rejected")


class AvailabilityRule(IdMixin, TenantMixin, TimestampMixin, Base):
    """A recurring working window on some weekdays (ISO: Monday = bit 0)."""

    __tablename__ = "availability_rules"
    __table_args__ = (
        CheckConstraint(enum_check("kind", RULE_KINDS), name="kind_valid"),
        CheckConstraint("weekday_mask >= 1 AND weekday_mask <= 127", name="weekday_mask_range"),
        CheckConstraint("start_time <> end_time", name="window_not_empty"),
        CheckConstraint("parallel_sessions >= 1", name="parallel_sessions_positive"),
        CheckConstraint("valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from", name="validity_ordered"),
        CheckConstraint("kind <> 'date_range' OR (valid_from IS NOT NULL AND valid_to IS NOT NULL)", name="date_range_bounded"),
        Index(None, "provider_id", "location_id"),
    )

    kind: Mapped[str] = mapped_column(String(20), default="weekly")
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    room_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rooms.id"))
    weekday_mask: Mapped[int]
    start_time: Mapped[time]
    end_time: Mapped[time]  # earlier than start_time: the window crosses local midnight
    valid_from: Mapped[date | None]
    valid_to: Mapped[date | None]
    parallel_sessions: Mapped[int] = mapped_column(default=1)
    priority: Mapped[int] = mapped_column(default=0)

    breaks: Mapped[list[AvailabilityBreak]] = relationship(
        back_populates="rule", cascade="all, delete-orphan", order_by="AvailabilityBreak.start_time"
    )

    @property
    def weekdays(self) -> list[int]:
        return [d for d in range(1, 8) if self.weekday_mask & (1 << (d - 1))]


def weekday_mask(days: list[int]) -> int:
    return sum(1 << (d - 1) for d in set(days))


class AvailabilityBreak(IdMixin, TenantMixin, Base):
    __tablename__ = "availability_breaks"
    __table_args__ = (CheckConstraint("start_time <> end_time", name="break_not_empty"),)

    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("availability_rules.id", ondelete="CASCADE"), index=True)
    start_time: Mapped[time]
    end_time: Mapped[time]

    rule: Mapped[AvailabilityRule] = relationship(back_populates="breaks")


class AvailabilityException(IdMixin, TenantMixin, TimestampMixin, Base):
    """Blocked time, or an extra available window, optionally for one type/location."""

    __tablename__ = "availability_exceptions"
    __table_args__ = (
        CheckConstraint(enum_check("status", EXCEPTION_STATUSES), name="status_valid"),
        CheckConstraint("end_at > start_at", name="end_after_start"),
        Index(None, "provider_id", "start_at"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    status: Mapped[str] = mapped_column(String(20))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("locations.id"))
    room_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rooms.id"))
    appointment_type_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("appointment_types.id"))
    reason: Mapped[str | None] = mapped_column(String(500))  # staff-only, never exposed
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class TimeOff(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "time_off"
    __table_args__ = (
        CheckConstraint(enum_check("status", TIME_OFF_STATUSES), name="status_valid"),
        CheckConstraint("end_at > start_at", name="end_after_start"),
        Index(None, "provider_id", "start_at"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
