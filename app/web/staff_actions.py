"""Running a booking action from a staff page: once per form token, the outcome as a flash."""
from __future__ import annotations

import uuid
from collections.abc import Callable

from flask import flash, redirect, request
from flask_login import current_user

from app.booking import lifecycle
from app.booking.actors import Actor
from app.contacts import text_problem
from app.errors import BookwellError, validation_error
from app.web.once import run_once

Action = tuple[Callable[[Actor, uuid.UUID, str | None], object], str]  # (service call, success message)
# After the visit's start, the provider's and the front desk's pages both record how it went.
COMPLETE: Action = (lambda actor, b, reason: lifecycle.complete(actor, b), "Marked as completed.")
NO_SHOW: Action = (lambda actor, b, reason: lifecycle.no_show(actor, b), "Marked as a no-show.")


def flash_outcome(call: Callable[[], object], done: str, back: str):
    """Run a service call; its refusal (a BookwellError) or `done` becomes the flash."""
    try:
        call()
    except BookwellError as error:
        flash(error.message, "warning")
    else:
        flash(done, "success")
    return redirect(back, code=303)


def form_text(name: str, limit: int = 500) -> str | None:
    """A one-line text field of a staff form (a reason); control characters are refused
    with a 422 that flash_outcome shows (they would reach email headers and texts)."""
    value = (request.form.get(name) or "").strip()[:limit] or None
    if value is not None and text_problem(value):
        raise validation_error({name: text_problem(value)}, f"The {name}: {text_problem(value)}")
    return value


def perform(action: Action, booking_id: uuid.UUID, back: str):
    run, done = action
    return run_once(lambda: flash_outcome(lambda: run(Actor.of(current_user), booking_id, form_text("reason")),
                                          done, back))
