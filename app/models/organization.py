"""Tenants and places: Organization, Location, Room."""
from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, IdMixin, TimestampMixin


class Organization(IdMixin, TimestampMixin, Base):
    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint("hold_minutes >= 1 AND hold_minutes <= 120", name="hold_minutes_range"),
        CheckConstraint("max_live_holds >= 1 AND max_live_holds <= 100", name="max_live_holds_range"),
    )

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    slot_exposure_enabled: Mapped[bool] = mapped_column(default=True)
    hold_minutes: Mapped[int] = mapped_column(default=10)
    # Live holds one person (account, guest contact, browser session) may have at once;
    # staff holds are not counted (docs/security.md).
    max_live_holds: Mapped[int] = mapped_column(default=3, server_default="3")
    # ISO 3166 country: the region for phone numbers typed without a country code.
    country: Mapped[str | None] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # new locations' default zone
    language: Mapped[str] = mapped_column(String(10), default="en")  # new patients' default language

    locations: Mapped[list[Location]] = relationship(back_populates="organization", order_by="Location.name")


class TenantMixin:
    """Every tenant-owned row carries its organization; every query filters on it."""

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)


class Location(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "locations"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))  # IANA name, validated on write
    address: Mapped[str | None] = mapped_column(String(500))
    phone: Mapped[str | None] = mapped_column(String(40))  # the clinic's public number
    is_active: Mapped[bool] = mapped_column(default=True)

    organization: Mapped[Organization] = relationship(back_populates="locations")
    rooms: Mapped[list[Room]] = relationship(back_populates="location", order_by="Room.name")


class Room(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "rooms"
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        UniqueConstraint("location_id", "name"),
    )

    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int] = mapped_column(default=1)
    is_virtual: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)

    location: Mapped[Location] = relationship(back_populates="rooms")
