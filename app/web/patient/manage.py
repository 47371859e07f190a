"""Managing visits: cancel and reschedule (patients and guests with a signed link),
and the patient's profile and preferences."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import SelectChoice

from app import patient_profiles
from app.accounts import AccountError
from app.booking import lifecycle
from app.booking.actors import Actor
from app.booking.policies import check_patient_cancel, check_patient_reschedule
from app.errors import BookwellError
from app.extensions import db
from app.models import Booking, Provider, utcnow
from app.queries.booking_moves import move_choices
from app.tenancy import addressed_organization
from app.web.dates import parse_day
from app.web.once import new_token, run_once
from app.web.patient import bp
from app.web.patient.booking import _zone_choices, visitor_timezone
from app.web.patient.forms import CancelForm, ProfileForm
from app.web.patient.manage_links import verify_manage_token


def policy_notes(booking: Booking) -> dict[str, str | None]:
    """Why cancel or reschedule is not offered online, in words (None: allowed)."""
    kind = booking.appointment_type
    now = utcnow()
    notes: dict[str, str | None] = {"cancel": None, "reschedule": None}
    if booking.status not in ("pending", "confirmed") or booking.start_at <= now:
        notes["cancel"] = notes["reschedule"] = "This visit can no longer be changed."
        return notes
    for action, check in (("cancel", check_patient_cancel), ("reschedule", check_patient_reschedule)):
        try:
            check(kind, booking, now)
        except BookwellError as error:
            notes[action] = error.message
    return notes


def _own(booking_id) -> Booking:
    booking = db.session.get(Booking, booking_id)
    if booking is None or not current_user.is_authenticated or booking.patient_id != current_user.id:
        abort(404)
    return booking


def _by_token(token: str) -> Booking:
    booking_id = verify_manage_token(token)
    booking = db.session.get(Booking, booking_id) if booking_id else None
    addressed = addressed_organization()
    if booking is None or (addressed is not None and booking.organization_id != addressed.id):
        abort(404)  # a link opens its booking only at its own clinic's address
    return booking


def _acting_on(booking: Booking) -> Actor:
    if current_user.is_authenticated and booking.patient_id == current_user.id:
        return Actor.of(current_user)
    return Actor.guest_with_link(booking)


@bp.post("/appointments/<uuid:booking_id>/cancel")
@login_required
def cancel_appointment(booking_id):
    booking = _own(booking_id)
    return run_once(lambda: _cancel(booking, url_for("patient.appointments")))


@bp.route("/manage/<token>", methods=["GET"])
def manage(token):
    booking = _by_token(token)
    tz, yours = _zone_for(booking)
    return render_template("patient/manage.html", booking=booking, token=token, notes=policy_notes(booking),
                           tz=tz, zone_is_yours=yours, form=CancelForm(), form_token=new_token())


def _zone_for(booking: Booking) -> tuple[str, bool]:
    """The visitor's own zone once known; until then the clinic's (labelled as such on the page)."""
    own = visitor_timezone()
    return (own, True) if own else (booking.location.timezone, False)


@bp.post("/manage/<token>/cancel")
def manage_cancel(token):
    booking = _by_token(token)
    return run_once(lambda: _cancel(booking, url_for("patient.manage", token=token)))


def _cancel(booking: Booking, back: str):
    form = CancelForm()
    if not form.validate_on_submit():
        if form.reason.errors:  # a reason with control characters: say so where the person is
            flash(f"Reason: {form.reason.errors[0]}", "warning")
            return redirect(back, code=303)
        abort(400)
    try:  # the policy is checked inside the service, under the provider's lock
        lifecycle.cancel(_acting_on(booking), booking.id, form.reason.data or None)
    except BookwellError as error:
        flash(error.message, "warning")
        return redirect(back, code=303)
    flash("Your appointment is cancelled. We have let the clinic know.", "success")
    return redirect(back, code=303)


def _reschedule_page(booking: Booking, post_url: str):
    tz_name, yours = _zone_for(booking)
    today = utcnow().astimezone(ZoneInfo(tz_name)).date()
    try:
        day = parse_day(request.args.get("date", ""))
    except ValueError:
        day = None
    provider = db.session.get(Provider, booking.provider_id)
    choices = move_choices(booking, provider, day, today, zone=tz_name)
    kind = booking.appointment_type
    last_change = kind.cancel_notice_minutes  # a new time closer than this cannot be changed online later
    return render_template("patient/reschedule.html", booking=booking, choices=choices, tz=tz_name,
                           zone_is_yours=yours, post_url=post_url, notes=policy_notes(booking),
                           form_token=new_token(), last_change_hours=(last_change or 0) / 60)


@bp.get("/appointments/<uuid:booking_id>/reschedule")
@login_required
def reschedule_appointment(booking_id):
    booking = _own(booking_id)
    return _reschedule_page(booking, url_for("patient.reschedule_appointment_post", booking_id=booking.id))


@bp.post("/appointments/<uuid:booking_id>/reschedule")
@login_required
def reschedule_appointment_post(booking_id):
    booking = _own(booking_id)
    return run_once(lambda: _reschedule(booking, Actor.of(current_user), url_for("patient.appointments"),
                                        url_for("patient.reschedule_appointment", booking_id=booking.id)))


@bp.get("/manage/<token>/reschedule")
def manage_reschedule(token):
    booking = _by_token(token)
    return _reschedule_page(booking, url_for("patient.manage_reschedule_post", token=token))


@bp.post("/manage/<token>/reschedule")
def manage_reschedule_post(token):
    booking = _by_token(token)
    return run_once(lambda: _reschedule(booking, Actor.guest_with_link(booking), url_for("patient.manage", token=token),
                                        url_for("patient.manage_reschedule", token=token)))


def _reschedule(booking: Booking, actor: Actor, done: str, again: str):
    try:
        start = datetime.fromisoformat(request.form.get("start", ""))
        if start.tzinfo is None:
            raise ValueError
    except ValueError:
        abort(400)
    try:  # patients and guests alike: the policy is checked inside the service, under the lock
        lifecycle.reschedule(actor, booking.id, start=start)
    except BookwellError as error:
        flash(error.message if error.code == "POLICY_VIOLATION" else
              "Sorry, that time was just taken. Please pick another.", "warning")
        return redirect(again, code=303)
    flash("Your appointment has been moved.", "success")
    return redirect(done, code=303)


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    if current_user.role != "patient":
        abort(403)
    prefs = current_user.patient_profile
    form = ProfileForm(obj=prefs)
    form.timezone.choices = [SelectChoice(z, z) for z in _zone_choices(prefs.timezone, [])]
    if request.method == "GET":
        form.full_name.data = current_user.full_name
    if form.validate_on_submit():
        try:
            patient_profiles.save_preferences(current_user.id, patient_profiles.Preferences(
                full_name=form.full_name.data, phone=form.phone.data or None, timezone=form.timezone.data,
                language=form.language.data, notify_email=form.notify_email.data, notify_sms=form.notify_sms.data,
                reminders_enabled=form.reminders_enabled.data))
        except AccountError as error:
            getattr(form, error.field).errors.append(error.message)
            return render_template("patient/profile.html", form=form), 422
        flash("Your preferences are saved.", "success")
        return redirect(url_for("patient.profile"), code=303)
    return render_template("patient/profile.html", form=form), (422 if request.method == "POST" else 200)


@bp.post("/profile/timezone")
def remember_timezone():
    """The finder's time-zone choice: a cookie for everyone, the profile for patients."""
    from flask import make_response

    from app.accounts import valid_timezone

    zone = request.form.get("tz", "")
    if not valid_timezone(zone):
        abort(400)
    if current_user.is_authenticated and current_user.patient_profile is not None:
        patient_profiles.remember_timezone(current_user.id, zone)
    response = make_response("", 204)
    response.set_cookie("bw_tz", zone, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response
