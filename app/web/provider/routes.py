"""The provider console: agenda (day, week, list), booking details and actions, blocking time."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.booking import lifecycle
from app.clinic import setup
from app.extensions import db
from app.models import Booking, utcnow
from app.queries import agenda, agenda_grid, bookings, clinic
from app.web.access import safe_local_path
from app.web.dates import parse_day
from app.web.once import new_token, run_once
from app.web.staff_actions import COMPLETE, NO_SHOW, flash_outcome, form_text, perform
from app.web.provider import bp

WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
VIEWS = ("day", "week", "list")
LAYOUTS = ("grid", "list")  # day and week: a time grid, or the plain lists


def _day(tz: str) -> date:
    try:
        return parse_day(request.args.get("date", ""))
    except ValueError:
        return utcnow().astimezone(ZoneInfo(tz)).date()


@bp.get("/")
def home():
    provider = current_user.provider
    org_id = current_user.organization_id
    view = request.args.get("view") if request.args.get("view") in VIEWS else "day"
    day = _day(provider.timezone)
    if view == "week":
        day = day - timedelta(days=day.weekday())
    days = 7 if view == "week" else 1
    layout = request.args.get("layout") if request.args.get("layout") in LAYOUTS else "grid"
    now = utcnow()
    context = dict(provider=provider, view=view, layout=layout, day=day, tz=provider.timezone,
                   form_token=new_token(), today=now.astimezone(ZoneInfo(provider.timezone)).date())
    if view == "list":
        context["upcoming"] = bookings.upcoming_for_provider(org_id, provider.id, limit=100)
    elif layout == "grid":
        context["grid"] = agenda_grid.provider_grid(org_id, provider, day, days, now)
    else:
        context["columns"] = agenda_grid.day_lists(org_id, provider, day, days)
    context["pending"] = bookings.pending_requests(org_id, provider_id=provider.id)
    context["coming_up"] = bookings.upcoming_for_provider(org_id, provider.id, limit=8)
    context["hours"] = clinic.weekly_hours(org_id, provider.id)
    context["locations"] = clinic.location_names(org_id)
    context["weekday_names"] = WEEKDAY_NAMES
    if request.headers.get("HX-Target") == "agenda":  # a live refresh: the badge and next visits come along
        return render_template("provider/_agenda.html", refresh=True, **context)
    return render_template("provider/home.html", **context)


def _own(booking_id) -> Booking:
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.provider_id != current_user.provider_id:
        abort(404)
    return booking


@bp.get("/bookings/<uuid:booking_id>")
def booking_detail(booking_id):
    booking = _own(booking_id)
    return render_template("provider/_booking_detail.html", booking=booking, tz=current_user.provider.timezone,
                           conflicts=agenda.conflicts(booking), form_token=new_token(), now=utcnow())


ACTIONS = {
    "accept": (lambda actor, b, reason: lifecycle.accept(actor, b), "Request accepted."),
    "decline": (lambda actor, b, reason: lifecycle.decline(actor, b, reason), "Request declined; the time is free again."),
    "complete": COMPLETE,
    "no_show": NO_SHOW,
    "cancel": (lambda actor, b, reason: lifecycle.cancel(actor, b, reason), "Appointment cancelled."),
}


@bp.post("/bookings/<uuid:booking_id>/<action>")
def booking_action(booking_id, action):
    if action not in ACTIONS:
        abort(404)
    booking = _own(booking_id)
    back = safe_local_path(request.form.get("back")) or url_for("provider.home")
    return perform(ACTIONS[action], booking.id, back)


@bp.post("/block")
def block_time():
    provider = current_user.provider
    back = url_for("provider.home", date=request.form.get("date"))

    def handler():
        try:
            day = parse_day(request.form.get("date", ""))
            start = datetime.strptime(request.form.get("start_time", ""), "%H:%M").time()
            end = datetime.strptime(request.form.get("end_time", ""), "%H:%M").time()
        except ValueError:
            flash("Give a day and a start and end time like 12:30.", "warning")
            return redirect(back, code=303)
        if end <= start:  # one day on this form: an end before the start is a typo, not an overnight block
            flash("The end must be after the start on the same day.", "warning")
            return redirect(back, code=303)
        return flash_outcome(lambda: setup.add_exception(
            current_user.organization_id, provider_id=provider.id, status="blocked", start_at=None, end_at=None,
            day=day, start_time=start, end_time=end, reason=form_text("reason"), created_by_id=current_user.id,
        ), "Time blocked. Patients can no longer book it.", back)

    return run_once(handler)


@bp.post("/time-off")
def request_time_off():
    provider = current_user.provider
    back = safe_local_path(request.form.get("back")) or url_for("provider.home")

    def handler():
        zone = ZoneInfo(provider.timezone)
        try:
            first = parse_day(request.form.get("first_day", ""))
            last = parse_day(request.form.get("last_day", "")) if request.form.get("last_day") else first
        except ValueError:
            flash("Give the first and last day of your time off.", "warning")
            return redirect(back, code=303)
        if last < first or (last - first).days > 366:
            flash("The last day must be on or after the first day (at most a year).", "warning")
            return redirect(back, code=303)
        start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        return flash_outcome(lambda: setup.request_time_off(
            current_user.organization_id, provider_id=provider.id, start_at=start, end_at=end,
            reason=form_text("reason"), requested_by_id=current_user.id,
        ), "Time off requested. A manager will approve it; until then patients can still book.", back)

    return run_once(handler)
