"""The booking state machine of docs/architecture.md, checked for every (action, status) pair:
the documented moves lead where the diagram says, every other pair is 409
INVALID_TRANSITION. The expectations are written out here, not read from
app.booking.states, so a change to the table has to be a change to this test too."""
from __future__ import annotations

import pytest

from app.booking import states
from app.errors import BookwellError
from app.models import BOOKING_STATUSES

# action -> {status it may start from: status it leads to}; every other status is refused.
# "confirm" is resolved per type below; "reschedule" keeps the status it starts from.
DOCUMENTED: dict[str, dict[str, str]] = {
    # held ──confirm──▶ pending (type needs approval) or confirmed (type confirms instantly)
    "confirm": {"held": "<by type>"},
    # pending ──accept──▶ confirmed
    "accept": {"pending": "confirmed"},
    # pending ──decline──▶ declined
    "decline": {"pending": "declined"},
    # a hold, a request and a confirmed booking can all be cancelled
    "cancel": {"held": "cancelled", "pending": "cancelled", "confirmed": "cancelled"},
    # only a hold runs out
    "expire": {"held": "expired"},
    # confirmed ──▶ completed | no_show, and nothing else can be marked
    "complete": {"confirmed": "completed"},
    "no_show": {"confirmed": "no_show"},
    # an atomic move in time of a request or a confirmed booking; the status stays
    "reschedule": {"pending": "pending", "confirmed": "confirmed"},
}

ALLOWED = [
    pytest.param(action, status, requires_approval, expected, id=f"{action}-{status}-approval={requires_approval}")
    for action, moves in DOCUMENTED.items()
    for status, to in moves.items()
    for requires_approval, expected in (
        ((False, "confirmed"), (True, "pending")) if to == "<by type>" else ((False, to), (True, to)))
]

REFUSED = [
    pytest.param(action, status, id=f"{action}-{status}")
    for action, moves in DOCUMENTED.items()
    for status in BOOKING_STATUSES
    if status not in moves
]


def test_the_table_names_exactly_the_documented_actions_and_statuses():
    assert set(states.TRANSITIONS) == set(DOCUMENTED)
    assert set(BOOKING_STATUSES) == {"held", "pending", "confirmed", "declined", "cancelled", "expired",
                                     "completed", "no_show"}
    assert states.OCCUPYING | states.FINAL == set(BOOKING_STATUSES)
    assert not states.OCCUPYING & states.FINAL
    # every pair is covered once, by one of the two tables below
    assert len(REFUSED) + sum(len(moves) for moves in DOCUMENTED.values()) == len(DOCUMENTED) * 8


@pytest.mark.parametrize(("action", "status", "requires_approval", "expected"), ALLOWED)
def test_a_documented_move_leads_to_its_documented_status(action, status, requires_approval, expected):
    assert states.target(action, status, requires_approval) == expected


@pytest.mark.parametrize(("action", "status"), REFUSED)
@pytest.mark.parametrize("requires_approval", [False, True], ids=["instant", "approval"])
def test_every_other_pair_is_409_invalid_transition(action, status, requires_approval):
    with pytest.raises(BookwellError) as caught:
        states.target(action, status, requires_approval)
    error = caught.value
    assert (error.status, error.code) == (409, "INVALID_TRANSITION")
    assert error.details == {"status": status, "action": action}
    assert status.replace("_", "-") in error.message  # a sentence a person can read
