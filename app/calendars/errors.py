"""What can go wrong with an external calendar, in words a clinic can act on (pure: no Flask,
no SQLAlchemy). `app.calendars.ports` re-exports them for the adapters."""
from __future__ import annotations


class CalendarAuthError(Exception):
    """The server refused the credentials: the provider must reconnect (no retries)."""


class CalendarSyncError(Exception):
    """A failure worth retrying later (network, server error, bad data); the message is shown in words."""
