"""Who may do what: the one place the role sets live (docs/architecture.md, "Who may do
what"). Pages, the API, sockets, notifications and the booking services ask these
names instead of spelling roles out.

People have one role each; `guest` (a visitor without an account) and `system` (jobs)
are internal actors of the booking services, never stored on a user.
"""
from __future__ import annotations

PATIENT, PROVIDER, FRONTDESK, MANAGER, ADMIN = "patient", "provider", "frontdesk", "manager", "admin"
GUEST, SYSTEM = "guest", "system"

ROLES: tuple[str, ...] = (PATIENT, PROVIDER, FRONTDESK, MANAGER, ADMIN)
STAFF: tuple[str, ...] = (PROVIDER, FRONTDESK, MANAGER, ADMIN)  # work for the clinic
# See every booking of the clinic, book for callers, find patients, the front-desk pages.
CLINIC_DESK: tuple[str, ...] = (FRONTDESK, MANAGER, ADMIN)
DECIDERS: tuple[str, ...] = STAFF  # accept or decline a request (providers: their own)
SETUP: tuple[str, ...] = (MANAGER, ADMIN)  # change the clinic's set-up: places, people, types, rules, calendars
ADMINS: tuple[str, ...] = (ADMIN,)  # users, roles and organization settings


def sees_whole_clinic(role: str) -> bool:
    """Every booking and agenda of the organization (not only one's own)."""
    return role in CLINIC_DESK or role == SYSTEM
