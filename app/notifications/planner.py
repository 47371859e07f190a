"""Which messages a booking event causes, for whom, on which channels.

Pure decisions over plain values, so the rules read like a table:
patients hear about confirmations, pending requests, acceptance, declines,
cancellations and reschedules; the provider (and, for types that need
approval, the front desk) about new requests, cancellations and reschedules.
Each recipient's channel preferences and language are respected.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipient:
    kind: str  # patient | guest | provider | frontdesk
    user_id: object | None
    email: str | None
    phone: str | None
    language: str = "en"
    wants_email: bool = True
    wants_sms: bool = False
    wants_reminders: bool = True


@dataclass(frozen=True)
class Planned:
    recipient: Recipient
    channel: str  # email | sms
    template: str


# (event action, status it led to) -> (patient template, staff template or None)
PATIENT_TEMPLATES = {
    ("confirmed", "confirmed"): "confirmed",
    ("confirmed", "pending"): "pending",
    ("accepted", "confirmed"): "accepted",
    ("declined", "declined"): "declined",
    ("cancelled", "cancelled"): "cancelled",
    ("rescheduled", "confirmed"): "rescheduled",
    ("rescheduled", "pending"): "rescheduled",
}
STAFF_TEMPLATES = {
    ("confirmed", "pending"): "new_request",
    ("cancelled", "cancelled"): "staff_cancelled",
    ("rescheduled", "confirmed"): "staff_rescheduled",
    ("rescheduled", "pending"): "staff_rescheduled",
}


def plan(action: str, from_status: str | None, to_status: str | None, *, patient: Recipient | None,
         provider_staff: list[Recipient], frontdesk: list[Recipient], requires_approval: bool,
         previous_provider_staff: list[Recipient] = (), provider_changed: bool = False) -> list[Planned]:
    """Who hears of a booking event, how, with which template. A visit moved to another
    clinician is new for that one (`provider_changed`) and news for the one who had it too
    (`previous_provider_staff`)."""
    key = (action, to_status)
    if action == "cancelled" and from_status == "held":
        return []  # a released hold was never a visit: nobody needs to hear about it
    out: list[Planned] = []
    template = PATIENT_TEMPLATES.get(key)
    if template and patient is not None:
        out += _channels(patient, template)
    staff_template = STAFF_TEMPLATES.get(key)
    if staff_template and action == "rescheduled" and provider_changed:
        staff_template = "staff_moved_in"
    if staff_template:
        for person in provider_staff + (frontdesk if requires_approval else []):
            out += _channels(person, staff_template)
    if action == "rescheduled":
        for person in previous_provider_staff:
            out += _channels(person, "staff_moved_away")
    return out


def _channels(person: Recipient, template: str) -> list[Planned]:
    out = []
    if person.email and person.wants_email:
        out.append(Planned(person, "email", template))
    if person.phone and person.wants_sms:
        out.append(Planned(person, "sms", template))
    return out


def reminders_wanted(patient: Recipient | None) -> list[str]:
    if patient is None or not patient.wants_reminders:
        return []
    return [c for c, ok in (("email", patient.email and patient.wants_email),
                            ("sms", patient.phone and patient.wants_sms)) if ok]
