"""The provider's private ICS feed: live bookings with minimal personal data.

The token is derived from SECRET_KEY and a per-provider random nonce
(HMAC-SHA256), so the server can show the URL again while the database keeps
only the nonce and a SHA-256 of the token (the index a request is looked up
by). Rotating draws a new nonce: the old URL answers 404.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta, timezone

from flask import current_app
from icalendar import Calendar, Event
from sqlalchemy import select

from app.calendars.writeback import PRESENT_STATUSES
from app.database import write_transaction
from app.errors import not_found
from app.extensions import db
from app.models import Booking, Provider, utcnow

PRODID = "-//Bookwell//Provider feed//EN"
PAST = timedelta(days=30)


def _token(nonce: str) -> str:
    mac = hmac.new(current_app.config["SECRET_KEY"].encode(), f"calendar-feed:{nonce}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _provider(org_id: uuid.UUID, provider_id: uuid.UUID) -> Provider:
    provider = db.session.get(Provider, provider_id)
    if provider is None or provider.organization_id != org_id:
        raise not_found("provider")
    return provider


def feed_token(org_id: uuid.UUID, provider_id: uuid.UUID) -> str:
    """The provider's current token (created on first use)."""
    provider = _provider(org_id, provider_id)
    if provider.feed_nonce and provider.feed_token_hash == token_hash(_token(provider.feed_nonce)):
        return _token(provider.feed_nonce)
    return rotate(org_id, provider_id)


def rotate(org_id: uuid.UUID, provider_id: uuid.UUID) -> str:
    """A new token; the old URL stops working at once."""
    with write_transaction():
        provider = _provider(org_id, provider_id)
        provider.feed_nonce = secrets.token_urlsafe(24)
        token = _token(provider.feed_nonce)
        provider.feed_token_hash = token_hash(token)
    return token


def provider_for_token(token: str) -> Provider | None:
    if not token or len(token) > 100:
        return None
    provider = db.session.scalars(select(Provider).where(Provider.feed_token_hash == token_hash(token))).first()
    if provider is None or not provider.feed_nonce or not hmac.compare_digest(_token(provider.feed_nonce), token):
        return None
    return provider


def feed_calendar(provider: Provider, now: datetime | None = None) -> bytes:
    """VCALENDAR of the provider's pending and confirmed bookings from 30 days back, times in UTC."""
    now = now or utcnow()
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"Bookwell: {provider.display_name}")
    calendar.add("x-wr-timezone", provider.timezone)
    bookings = db.session.scalars(select(Booking).where(
        Booking.organization_id == provider.organization_id, Booking.provider_id == provider.id,
        Booking.status.in_(PRESENT_STATUSES), Booking.end_at > now - PAST).order_by(Booking.start_at, Booking.id))
    for booking in bookings:
        event = Event()
        event.add("uid", f"bookwell-{booking.id}@bookwell")
        event.add("dtstamp", now.astimezone(timezone.utc))
        event.add("dtstart", booking.start_at.astimezone(timezone.utc))
        event.add("dtend", booking.end_at.astimezone(timezone.utc))
        event.add("sequence", booking.reschedule_count)
        label = "confirmed" if booking.status == "confirmed" else "request"
        event.add("summary", f"{booking.appointment_type.name} ({label})")
        event.add("status", "CONFIRMED" if booking.status == "confirmed" else "TENTATIVE")
        event.add("transp", "OPAQUE")
        calendar.add_component(event)
    return calendar.to_ical()
