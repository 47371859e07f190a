"""The weekly hours editor: one location at a time, with a preview of the bookable times."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import SelectChoice

from app.clinic import weekly_hours
from app.errors import BookwellError
from app.models import utcnow
from app.queries import clinic
from app.queries.agenda_grid import visits_outside_hours
from app.web.once import new_token, run_once
from app.web.provider import bp
from app.web.provider.forms import DAY_NAMES, WeeklyHoursForm

PREVIEW_DAYS = 7
OWN = {"page": "provider.hours", "preview": "provider.hours_preview", "args": {}}


def _provider():
    """Whose hours these are: the signed-in clinician, or the one a manager chose
    (app/web/admin/hours.py renders this same editor for them)."""
    return g.get("hours_provider") or current_user.provider


def _endpoints() -> dict:
    return g.get("hours_endpoints") or OWN


def _location(location_id: str | None):
    """The provider's location named in the request (or their first); 404 for any other."""
    provider = _provider()
    if not provider.locations:
        abort(404)
    if not location_id:
        return provider.locations[0]
    for location in provider.locations:
        if str(location.id) == location_id:
            return location
    abort(404)


def _form(location) -> WeeklyHoursForm:
    form = WeeklyHoursForm()
    kinds = [kind for kind in clinic.appointment_types(current_user.organization_id)
             if _provider() in kind.providers]
    form.appointment_type_id.choices = [SelectChoice(str(kind.id), kind.name) for kind in kinds]
    if not form.appointment_type_id.data and kinds:
        form.appointment_type_id.data = str(kinds[0].id)
    return form


def _preview(form: WeeklyHoursForm, location, week):
    kind = next((k for k in clinic.appointment_types(current_user.organization_id)
                 if str(k.id) == form.appointment_type_id.data and _provider() in k.providers), None)
    if kind is None or week is None:
        return None
    now = utcnow()
    return weekly_hours.preview(
        current_user.organization_id, _provider().id, location.id, kind, week,
        form.parallel_sessions.data or 1, weekly_hours.local_today(location, now), PREVIEW_DAYS, now)


def _render(form: WeeklyHoursForm, location, preview, status: int = 200):
    org_id, provider_id = current_user.organization_id, _provider().id
    others = weekly_hours.other_rules(org_id, provider_id, location.id)
    owned = weekly_hours.owned_rules(org_id, provider_id, location.id)
    return make_response(render_template(
        "provider/hours.html", form=form, location=location, preview=preview, day_names=DAY_NAMES,
        locations=_provider().locations, others=others, location_names=clinic.location_names(org_id),
        form_token=new_token(), locked=weekly_hours.unrepresentable(owned), owned=owned, provider=_provider(),
        endpoints=_endpoints(), preview_note=_preview_note(),
    ), status)


def _preview_note() -> str:
    """Why there is no preview: no visit type to show times of, else days that need fixing."""
    if not any(_provider() in k.providers for k in clinic.appointment_types(current_user.organization_id)):
        return "Link a visit type to this clinician (Admin, visit types) to see the times patients could book."
    return "Fix the marked days to see the preview."


@bp.get("/hours")
def hours():
    location = _location(request.args.get("location"))
    owned = weekly_hours.owned_rules(current_user.organization_id, _provider().id, location.id)
    form = _form(location)
    week = weekly_hours.current_week(owned)
    form.fill(week, weekly_hours.parallel_sessions_of(owned))
    return _render(form, location, _preview(form, location, week))


@bp.post("/hours/preview")
def hours_preview():
    """The preview partial for the hours as typed (HTMX, on every change); writes nothing."""
    location = _location(request.form.get("location_id"))
    form = _form(location)
    form.validate()
    week = form.week()
    if week is not None and any(weekly_hours.check_day(hours) for hours in week.values()):
        week = None
    return render_template("provider/_hours_preview.html", preview=_preview(form, location, week),
                           location=location, endpoints=_endpoints(), preview_note=_preview_note())


@bp.post("/hours")
def save_hours():
    location = _location(request.form.get("location_id"))
    form = _form(location)
    valid = form.validate_on_submit()
    week = form.week()  # marks incomplete days even when another field failed first
    if not valid or week is None:
        return _render(form, location, None, 422)

    def handler():
        try:
            weekly_hours.replace_weekly_hours(current_user.organization_id, _provider().id,
                                              location.id, week, form.parallel_sessions.data)
        except BookwellError as error:
            if error.status not in (409, 422):
                raise
            form.show_service_errors(error.details.get("fields", {}))
            flash(error.message, "warning")
            return _render(form, location, None, error.status)
        flash(f"Weekly hours at {location.name} saved. Patients see the new times now.", "success")
        outside = visits_outside_hours(current_user.organization_id, _provider().id, location.id, utcnow())
        if outside:
            first = outside[0].start_at.astimezone(ZoneInfo(location.timezone))
            flash(f"{len(outside)} booked {'visit lies' if len(outside) == 1 else 'visits lie'} outside these hours "
                  f"(the first: {first:%a %d %b %Y, %H:%M}). {'It stays' if len(outside) == 1 else 'They stay'} "
                  "booked; move or cancel from the agenda if needed.", "warning")
        return redirect(url_for(_endpoints()["page"], location=location.id, **_endpoints()["args"]), code=303)

    return run_once(handler)
