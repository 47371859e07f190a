"""The booking state machine of docs/architecture.md, and nothing else.

    held ──confirm──▶ pending ──accept──▶ confirmed ──▶ completed | no_show
      │                  └──decline──▶ declined
      │ (type confirms instantly: held ──confirm──▶ confirmed)
      ├──expire──▶ expired
      └──cancel──▶ cancelled        pending/confirmed ──cancel──▶ cancelled
    reschedule: pending/confirmed keep their status and move in time
"""
from __future__ import annotations

from app.errors import BookwellError
from app.scheduling.types import OCCUPYING_STATUSES

# action -> (statuses it may start from, status it leads to; None: decided by the caller)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "confirm": (frozenset({"held"}), None),  # pending or confirmed, by the type's policy
    "accept": (frozenset({"pending"}), "confirmed"),
    "decline": (frozenset({"pending"}), "declined"),
    "cancel": (frozenset({"held", "pending", "confirmed"}), "cancelled"),
    "expire": (frozenset({"held"}), "expired"),
    "complete": (frozenset({"confirmed"}), "completed"),
    "no_show": (frozenset({"confirmed"}), "no_show"),
    "reschedule": (frozenset({"pending", "confirmed"}), None),  # keeps its status
}
OCCUPYING = frozenset(OCCUPYING_STATUSES)
FINAL = frozenset({"declined", "cancelled", "expired", "completed", "no_show"})


def target(action: str, status: str, requires_approval: bool = False) -> str:
    """The status `action` leads to from `status`, or 409 INVALID_TRANSITION."""
    sources, to = TRANSITIONS[action]
    if status not in sources:
        raise BookwellError(409, "INVALID_TRANSITION", f"A booking that is {status.replace('_', '-')} cannot be "
                            f"{_past(action)}.", {"status": status, "action": action})
    if action == "confirm":
        return "pending" if requires_approval else "confirmed"
    return to or status


def _past(action: str) -> str:
    return {"confirm": "confirmed", "accept": "accepted", "decline": "declined", "cancel": "cancelled",
            "expire": "expired", "complete": "marked completed", "no_show": "marked as a no-show",
            "reschedule": "rescheduled"}[action]
