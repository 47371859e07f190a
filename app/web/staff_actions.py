"""Running a booking action from a staff page: once per form token, the outcome as a flash."""
from __future__ import annotations

import uuid
from collections.abc import Callable

from flask import flash, redirect, request
from flask_login import current_user

from app.booking.actors import Actor
from app.errors import BookwellError
from app.web.once import run_once

Action = tuple[Callable[[Actor, uuid.UUID, str | None], object], str]  # (service call, success message)


def perform(action: Action, booking_id: uuid.UUID, back: str):
    def handler():
        run, done = action
        try:
            run(Actor.of(current_user), booking_id, (request.form.get("reason") or "").strip() or None)
        except BookwellError as error:
            flash(error.message, "warning")
        else:
            flash(done, "success")
        return redirect(back, code=303)

    return run_once(handler)
