"""Jinja filters and globals: local times at the edge, navigation per role."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask, request
from flask_login import current_user

from app.booking import lifecycle
from app.tenancy import portal_organization

NAVIGATION = {
    None: [("patient.home", "Home"), ("patient.book", "Book a visit"), ("auth.login", "Sign in"),
           ("auth.register", "Create account")],
    "patient": [("patient.home", "Home"), ("patient.book", "Book a visit"), ("patient.appointments", "My appointments"),
                ("patient.profile", "Preferences")],
    "provider": [("provider.home", "My agenda"), ("provider.hours", "Weekly hours"), ("provider.blocks_page", "Blocks"),
                 ("provider.time_off_page", "Time off"), ("provider.calendars", "Calendars"),
                 ("provider.insights", "Insights")],
    "frontdesk": [("frontdesk.home", "Front desk"), ("frontdesk.patients", "Patients")],
    # The admin pages carry their own tabs (templates/admin/_tabs.html, users and settings for admins
    # there); the top stays one row on a phone.
    "manager": [("admin.home", "Clinic"), ("admin.locations", "Setup"), ("admin.time_off", "Time off"),
                ("frontdesk.home", "Front desk"), ("frontdesk.patients", "Patients")],
    "admin": [("admin.home", "Clinic"), ("admin.locations", "Setup"), ("admin.time_off", "Time off"),
              ("frontdesk.home", "Front desk"), ("frontdesk.patients", "Patients")],
}

STATUS_LABELS = {
    "held": "On hold", "pending": "Awaiting approval", "confirmed": "Confirmed",
    "declined": "Declined", "cancelled": "Cancelled", "expired": "Expired",
    "completed": "Completed", "no_show": "No-show",
}


def local_time(value: datetime | None, tz: str | None, fmt: str = "%a %d %b %Y, %H:%M") -> str:
    if value is None:
        return ""
    zone = ZoneInfo(tz or "UTC")
    return value.astimezone(zone).strftime(fmt)


def money(cents: int | None, currency: str | None) -> str:
    if cents is None:
        return "—"
    symbol = {"EUR": "€", "USD": "$", "GBP": "£"}.get(currency or "", (currency or "") + " ")
    return f"{symbol}{cents / 100:,.2f}"


def mask_contact(value: str | None) -> str:
    """p***@example.com or ***78: enough to recognise, not to copy."""
    from app.ops.logging_setup import mask_personal_data

    return mask_personal_data(value or "")


def init_app(app: Flask) -> None:
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["mask_contact"] = mask_contact
    app.jinja_env.globals["STATUS_LABELS"] = STATUS_LABELS
    app.jinja_env.globals["check_in_open"] = lifecycle.check_in_open
    app.jinja_env.globals["timedelta_days"] = lambda n: timedelta(days=n)

    @app.context_processor
    def _layout():
        role = current_user.role if current_user.is_authenticated else None
        return {
            "navigation": NAVIGATION.get(role, []),
            "current_endpoint": request.endpoint,
            "organization": portal_organization() if request.endpoint != "static" else None,
        }
