"""People who sign in: User (with a role) and the patient's profile."""
from __future__ import annotations

import uuid
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, EncryptedText, IdMixin, TimestampMixin, enum_check
from app.models.organization import TenantMixin

from app.roles import ROLES, STAFF as STAFF_ROLES  # noqa: E402,F401 - re-exported for the models package


class User(UserMixin, IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(enum_check("role", ROLES), name="role_valid"),
        CheckConstraint("role <> 'provider' OR provider_id IS NOT NULL", name="provider_link"),
        # One account per address and clinic: the same person may be a patient of two clinics.
        UniqueConstraint("organization_id", "email_index"),
    )

    # The address is encrypted; `email_index` is its keyed digest for look-ups.
    email: Mapped[str] = mapped_column(EncryptedText())
    email_index: Mapped[str] = mapped_column(String(64), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    full_name: Mapped[str] = mapped_column(String(200))
    is_enabled: Mapped[bool] = mapped_column(default=True)
    provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("providers.id"), index=True)
    # Bumped on sign-out-everywhere and password change: old sessions stop working.
    session_version: Mapped[int] = mapped_column(default=1)
    last_login_at: Mapped[datetime | None]
    # A self-registered account whose address is not proven yet cannot sign in: the link
    # in the sign-up email (or a reset link) clears this (docs/accounts.md).
    email_unconfirmed: Mapped[bool] = mapped_column(default=False)

    provider = relationship("Provider", foreign_keys=[provider_id])
    patient_profile: Mapped[PatientProfile | None] = relationship(back_populates="user", uselist=False)

    # Which sign-in this object serves in the current request (app/web/sign_ins.py): not a
    # column; the session and "keep me signed in" cookies carry it inside get_id().
    sign_in_id = None

    def get_id(self) -> str:
        account = f"{self.id}:{self.session_version}"
        return f"{account}:{self.sign_in_id}" if self.sign_in_id else account

    @property
    def is_active(self) -> bool:  # Flask-Login refuses disabled accounts
        return self.is_enabled

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


class PatientProfile(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "patient_profiles"
    __table_args__ = (
        CheckConstraint("notify_email OR notify_sms OR NOT reminders_enabled", name="reminder_channel"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), unique=True)
    phone: Mapped[str | None] = mapped_column(EncryptedText())
    # keyed digest of the E.164 number, kept by app/patients/phone_index.py
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    language: Mapped[str] = mapped_column(String(10), default="en")
    notify_email: Mapped[bool] = mapped_column(default=True)
    notify_sms: Mapped[bool] = mapped_column(default=False)
    reminders_enabled: Mapped[bool] = mapped_column(default=True)

    user: Mapped[User] = relationship(back_populates="patient_profile")


class SignedOutSession(Base):
    """One sign-in that was signed out: its session and "keep me signed in" cookies, copied or
    not, sign nobody in again (app/web/sign_ins.py; docs/security.md, "Sessions"). Kept until
    the longer of the two cookies would have run out anyway."""

    __tablename__ = "signed_out_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
