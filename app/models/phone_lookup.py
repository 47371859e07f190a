"""Blind-index tokens for finding a phone number by part of it (docs/patient-directory.md).

Phone numbers are encrypted at rest, so the database cannot compare them. Each
stored number gets a few keyed digests (app/patients/phone_search.py): its
leading digits from six on (prefix search: "030 1234", "+49 30 1234 567") and
its last four to six digits (suffix search). A row belongs either to a patient's
profile or to a guest booking; it goes away with its owner.
"""
from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, IdMixin
from app.models.organization import TenantMixin


class PhoneLookupToken(IdMixin, TenantMixin, Base):
    __tablename__ = "phone_lookup_tokens"
    __table_args__ = (
        CheckConstraint("(patient_profile_id IS NULL) <> (booking_id IS NULL)", name="one_owner"),
        Index(None, "organization_id", "token"),
    )

    token: Mapped[str] = mapped_column(String(64))
    patient_profile_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("patient_profiles.id", ondelete="CASCADE"), index=True)
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), index=True)

    # many-to-one only, so the unit of work inserts the owner first
    profile = relationship("PatientProfile")
    booking = relationship("Booking")
