"""Saving an admin form. The form checks presence and types; `shape` runs the input
through the API's schema (app/api/schemas.py) for shapes and bounds; `save` calls the
service, once per form token (app/web/once.py). Whatever refuses, its message lands at
the field it is about (the first message per field), the page comes back with 422 and
nothing is written; a success flashes and redirects with 303. `render(form)` draws the
page, so a refusal shows the form as it was typed."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from flask import flash, make_response, redirect
from pydantic import ValidationError

from app.errors import BookwellError
from app.web.admin.forms import AdminForm
from app.web.once import new_token, run_once

Render = Callable[[AdminForm], str]


class Saved(NamedTuple):
    location: str
    message: str
    category: str = "success"


def form_page(form: AdminForm, render: Render, save: Callable[[Any], Saved],
              shape: Callable[[AdminForm], Any] | None = None):
    """GET: the form. POST: shape and save it, or show every reason why not at once."""
    if not form.is_submitted():
        return render(form)
    valid = form.validate_on_submit()
    try:
        shaped = shape(form) if shape else None  # also after a form error: the schema's findings join in
    except (ValidationError, BookwellError) as error:
        form.show_errors(refusals(error))
        valid = False
    if not valid:
        return refused(form, render)
    return run_once(lambda: _attempt(form, render, lambda: save(shaped)))


def refused(form: AdminForm, render: Render):
    form.form_token.data = new_token()  # the one sent may be spent; the corrected form is a new submission
    return make_response(render(form), 422)


def _attempt(form: AdminForm, render: Render, save: Callable[[], Saved]):
    try:
        saved = save()
    except (ValidationError, BookwellError) as error:
        form.show_errors(refusals(error))
        return refused(form, render)
    flash(saved.message, saved.category)
    return redirect(saved.location, code=303)


def refusals(error: ValidationError | BookwellError) -> dict[str, str]:
    """{field: sentence} from a schema's or a service's refusal ("" for the form as a whole)."""
    if isinstance(error, BookwellError):
        return error.details.get("fields") or {"": error.message}
    fields: dict[str, str] = {}
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "body"
        fields.setdefault(name, _sentence(item))
    return fields


def _sentence(item: dict) -> str:
    """Pydantic's message worded for people; bounds of an amount in cents read as money."""
    kind, limits = item["type"], item.get("ctx") or {}
    cents = str(item["loc"][-1]).endswith("_cents") if item["loc"] else False

    def amount(value) -> str:
        return f"{value / 100:,.2f}" if cents else str(value)

    if kind in ("greater_than_equal", "greater_than"):
        return f"Use {amount(limits.get('ge', limits.get('gt')))} or more."
    if kind in ("less_than_equal", "less_than"):
        return f"Use {amount(limits.get('le', limits.get('lt')))} or less."
    if kind == "string_too_long":
        return f"Use at most {limits['max_length']} characters."
    if kind == "string_too_short":
        return "This field is required."
    if kind == "too_long":
        return f"Choose at most {limits.get('max_length')}."
    return item["msg"].removeprefix("Value error, ")
