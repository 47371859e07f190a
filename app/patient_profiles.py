"""The patient's own preferences: name, phone, time zone, language, how to be reminded.

One function per use case, each owning its transaction (pages call these; they
never write rows themselves).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.accounts import AccountError, valid_timezone
from app.database import write_transaction
from app.extensions import db
from app.models import PatientProfile, User


@dataclass(frozen=True)
class Preferences:
    full_name: str
    phone: str | None  # already E.164
    timezone: str
    language: str
    notify_email: bool
    notify_sms: bool
    reminders_enabled: bool


def save_preferences(user_id: uuid.UUID, prefs: Preferences) -> PatientProfile:
    """Save a patient's preferences. Reminders need a channel: with neither email nor
    text chosen, reminders are off."""
    name = " ".join(prefs.full_name.split())
    if not name:
        raise AccountError("full_name", "Give your name.")
    if not valid_timezone(prefs.timezone):
        raise AccountError("timezone", "Choose a time zone from the list.")
    with write_transaction():
        user = db.session.get(User, user_id)
        row = user.patient_profile if user is not None else None
        if row is None:
            raise AccountError("full_name", "Only patients have these preferences.")
        user.full_name = name
        row.phone, row.timezone, row.language = prefs.phone, prefs.timezone, prefs.language
        row.notify_email, row.notify_sms = prefs.notify_email, prefs.notify_sms
        row.reminders_enabled = prefs.reminders_enabled and (prefs.notify_email or prefs.notify_sms)
    return row


def remember_timezone(user_id: uuid.UUID, zone: str) -> None:
    """The zone a patient picked in the finder becomes their profile's zone."""
    if not valid_timezone(zone):
        raise AccountError("timezone", "Not a time zone.")
    with write_transaction():
        user = db.session.get(User, user_id)
        if user is not None and user.patient_profile is not None:
            user.patient_profile.timezone = zone
