"""Schedulable people and the locations they serve."""
from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, IdMixin, TimestampMixin
from app.models.organization import Location, TenantMixin

provider_locations = Table(
    "provider_locations",
    Base.metadata,
    Column("provider_id", ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True),
)


class Provider(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "providers"

    display_name: Mapped[str] = mapped_column(String(200))
    specialty: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    bio: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True)
    # Private ICS feed: the token is derived from SECRET_KEY and this nonce; only its hash is stored.
    feed_nonce: Mapped[str | None] = mapped_column(String(64))
    feed_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)

    locations: Mapped[list[Location]] = relationship(secondary=provider_locations, order_by="Location.name")
