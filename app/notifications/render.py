"""Message texts from templates/notifications/<language>/<template>.{subject,txt,html,sms}.

Falls back to English when a language has no version of a template. SMS
texts carry no health details (no visit type), only time, place and clinic.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from jinja2 import TemplateNotFound

from app.links import external_url
from app.models import Booking
from app.tenancy import site_prefix


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


def _find(language: str, template: str, part: str) -> str:
    for lang in (language, "en"):
        name = f"notifications/{lang}/{template}.{part}"
        try:
            current_app.jinja_env.get_template(name)
            return name
        except TemplateNotFound:
            continue
    raise TemplateNotFound(f"notifications/en/{template}.{part}")


def context(booking: Booking, payload: dict, start: datetime | None = None) -> dict:
    """Values for the texts; `start` is the visit's start as of the event being told."""
    zone = ZoneInfo(booking.location.timezone)
    local = (start or booking.start_at).astimezone(zone)
    yours = _patients_zone(booking, zone)
    mine = (start or booking.start_at).astimezone(yours) if yours else None
    return {
        "when_yours": f"{mine:%a %d %b %Y, %H:%M}" if mine else None, "timezone_yours": yours.key if yours else None,
        "clinic": booking.location.organization.name if booking.location.organization else "Bookwell",
        "name": booking.contact_name, "visit": booking.appointment_type.name,
        "provider": booking.provider.display_name, "location": booking.location.name,
        "address": booking.location.address or "", "when": local.strftime("%a %d %b %Y, %H:%M"),
        "when_short": local.strftime("%a %d %b %H:%M"), "timezone": booking.location.timezone,
        "status": booking.status, "booking_id": str(booking.id), "guest": booking.patient_id is None,
        "site_prefix": site_prefix(booking.organization_id), **payload,
    }


def _patients_zone(booking: Booking, clinic_zone: ZoneInfo) -> ZoneInfo | None:
    """The patient's own zone when it is not the clinic's (times are then told in both)."""
    name = booking.patient_timezone
    if not name or name == clinic_zone.key:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return None


def _manage_url(values: dict) -> str | None:
    """The way back to the visit (view, move, cancel), made at sending time so no link is
    stored: a guest's signed link, or a signed-in patient's list of appointments, under the
    clinic's path prefix (noted with the event; messages queued before it have none)."""
    if not values.get("booking_id"):
        return None
    prefix = values.get("site_prefix")
    if not values.get("guest"):
        return external_url("patient.appointments", site_prefix=prefix) if prefix is not None else None
    from app.web.patient.manage_links import manage_url_for_id

    return manage_url_for_id(values["booking_id"], prefix or "")


def render(template: str, channel: str, language: str, values: dict) -> Rendered:
    env = current_app.jinja_env
    values = {**values, "manage_url": _manage_url(values)}

    def part(kind: str) -> str:
        return env.get_template(_find(language, template, kind)).render(**values).strip()

    if channel == "sms":
        return Rendered(subject="", text=part("sms"), html=None)
    return Rendered(subject=part("subject"), text=part("txt"), html=part("html"))
