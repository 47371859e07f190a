"""Configuration from the environment (and `.env`), each value with a safe default.

Every setting is documented in README.md. `create_app(config)` may pass a dict
or an object to override any of them; tests do.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = ROOT / "instance"


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def from_environment() -> dict:
    """Read the process environment into a Flask config mapping."""
    instance = Path(os.environ.get("BOOKWELL_INSTANCE_PATH", DEFAULT_INSTANCE))
    debug = _bool("FLASK_DEBUG", False)
    return {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": os.environ.get("SECRET_KEY", ""),
        # Fernet key (urlsafe base64, 32 bytes) for personal data at rest;
        # derived from SECRET_KEY when unset.
        "ENCRYPTION_KEY": os.environ.get("ENCRYPTION_KEY", ""),
        "SQLALCHEMY_DATABASE_URI": os.environ.get(
            "DATABASE_URL", f"sqlite:///{instance / 'bookwell.sqlite3'}"
        ),
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "SQLITE_BUSY_TIMEOUT_MS": _int("SQLITE_BUSY_TIMEOUT_MS", 15000),
        "WRITERS_PER_PROCESS": _int("WRITERS_PER_PROCESS", 0),  # 0: 1 on SQLite, 16 on PostgreSQL
        "HOLD_TTL_MINUTES": _int("HOLD_TTL_MINUTES", 10),
        "HORIZON_DAYS": _int("HORIZON_DAYS", 60),
        "PORTAL_ORGANIZATION": os.environ.get("PORTAL_ORGANIZATION", ""),
        # host=slug pairs, comma-separated: a clinic's own host name shows its portal
        "PORTAL_HOSTS": os.environ.get("PORTAL_HOSTS", ""),
        # base of links in emails and texts (https://book.example.org); unset: the request's host
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", ""),
        "RATELIMIT_SIGN_IN": os.environ.get("RATELIMIT_SIGN_IN", "30/minute;300/hour"),
        "RATELIMIT_SIGN_IN_ACCOUNT": os.environ.get("RATELIMIT_SIGN_IN_ACCOUNT", "5/minute;20/hour"),
        "SMTP_HOST": os.environ.get("SMTP_HOST", "localhost"),
        "SMTP_PORT": _int("SMTP_PORT", 25),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": _bool("SMTP_STARTTLS", False),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Bookwell <no-reply@bookwell.local>"),
        # smtp: send through SMTP_*; file: write .eml files under instance/mail/ (the local sink)
        "MAIL_BACKEND": os.environ.get("MAIL_BACKEND", "smtp"),
        # file: write texts under instance/sms/; http: a Twilio-style API (SMS_API_URL, SMS_ACCOUNT_SID, ...)
        "SMS_BACKEND": os.environ.get("SMS_BACKEND", "file"),
        "SMS_API_URL": os.environ.get("SMS_API_URL", "https://api.twilio.com"),
        "SMS_ACCOUNT_SID": os.environ.get("SMS_ACCOUNT_SID", ""),
        "SMS_AUTH_TOKEN": os.environ.get("SMS_AUTH_TOKEN", ""),
        "SMS_FROM": os.environ.get("SMS_FROM", ""),
        "REMINDER_OFFSETS_MINUTES": os.environ.get("REMINDER_OFFSETS_MINUTES", "1440,120"),
        "NOTIFICATION_LEASE_SECONDS": _int("NOTIFICATION_LEASE_SECONDS", 120),
        "NOTIFICATION_MAX_ATTEMPTS": _int("NOTIFICATION_MAX_ATTEMPTS", 8),
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
        "RATELIMIT_USER_READS": os.environ.get("RATELIMIT_USER_READS", "60/minute"),
        "RATELIMIT_BOOKING_WRITES": os.environ.get("RATELIMIT_BOOKING_WRITES", "10/minute"),
        "RATELIMIT_PAGE_BOOKINGS": os.environ.get("RATELIMIT_PAGE_BOOKINGS", "10/minute"),
        "RATELIMIT_STAFF_WRITES": os.environ.get("RATELIMIT_STAFF_WRITES", "60/minute"),
        "RATELIMIT_REGISTRATIONS": os.environ.get("RATELIMIT_REGISTRATIONS", "10/hour"),
        # Reverse proxies in front of the app (X-Forwarded-For hops to trust); 0: none (docs/security.md)
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        # Bearer token for /metrics; unset: only loopback clients may read it
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        "SHOW_DEMO_LOGINS": _bool("SHOW_DEMO_LOGINS", False),
        "DEFAULT_PHONE_REGION": os.environ.get("DEFAULT_PHONE_REGION", "US"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        "DEBUG": debug,
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", not debug),
        "REMEMBER_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", not debug),
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 1024 * 1024),
        **calendar_settings(),
    }


def calendar_settings() -> dict:
    """External calendars (docs/calendars.md)."""
    return {
        # refuse loopback/private/link-local URLs unless true (tests, on-premise servers)
        "CALENDAR_ALLOW_PRIVATE_URLS": _bool("CALENDAR_ALLOW_PRIVATE_URLS", False),
        "CALENDAR_POLL_CALDAV_SECONDS": _int("CALENDAR_POLL_CALDAV_SECONDS", 300),
        "CALENDAR_POLL_ICS_SECONDS": _int("CALENDAR_POLL_ICS_SECONDS", 900),
        "CALENDAR_FETCH_TIMEOUT_SECONDS": _int("CALENDAR_FETCH_TIMEOUT_SECONDS", 15),
        "CALENDAR_MAX_FEED_BYTES": _int("CALENDAR_MAX_FEED_BYTES", 5 * 1024 * 1024),
        "CALENDAR_HORIZON_DAYS": _int("CALENDAR_HORIZON_DAYS", 120),
        "CALENDAR_LEASE_SECONDS": _int("CALENDAR_LEASE_SECONDS", 300),  # one worker per connection
        "CALENDAR_POLL_GOOGLE_SECONDS": _int("CALENDAR_POLL_GOOGLE_SECONDS", 300),
        # the fallback poll of a Google connection with a live push channel on every blocking calendar
        "CALENDAR_POLL_GOOGLE_PUSHED_SECONDS": _int("CALENDAR_POLL_GOOGLE_PUSHED_SECONDS", 1800),
        # Google Calendar (docs/calendars.md): the clinic's own OAuth client; empty = not offered
        "GOOGLE_CLIENT_ID": os.environ.get("GOOGLE_CLIENT_ID", ""),
        "GOOGLE_CLIENT_SECRET": os.environ.get("GOOGLE_CLIENT_SECRET", ""),
        "GOOGLE_AUTH_URL": os.environ.get("GOOGLE_AUTH_URL", "https://accounts.google.com/o/oauth2/v2/auth"),
        "GOOGLE_TOKEN_URL": os.environ.get("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token"),
        "GOOGLE_API_URL": os.environ.get("GOOGLE_API_URL", "https://www.googleapis.com"),
        # the public https address of POST /api/v1/calendar/google/push; empty = no push channels, polling only
        "GOOGLE_PUSH_URL": os.environ.get("GOOGLE_PUSH_URL", "").strip(),
    }


# Values that are not environment-driven: fixed security posture.
FIXED = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
}
