"""The booking detail for any staff role, and staff cancel / reschedule.

Cancel is two steps: GET shows what will happen (and the patient policy being
overridden), POST with a reason cancels; the reason goes into the patient's message.
Reschedule shows the free times of the visit's provider (or another provider of the
type, for the front desk, managers and admins) and moves it with the booking service,
which checks and takes the new time atomically; the patient is notified by the
booking event and their calendar invite is updated (same UID, SEQUENCE + 1)."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.booking import lifecycle
from app.booking.actors import Actor
from app.errors import BookwellError
from app.models import Booking, utcnow
from app.queries import agenda
from app.queries.booking_moves import move_choices, policy_warning, target_providers
from app.web.access import safe_local_path
from app.web.dates import parse_day
from app.web.frontdesk.forms import parse_uuid
from app.web.once import new_token, run_once
from app.web.staff import bp
from app.web.staff_actions import form_text

OPEN = ("pending", "confirmed")


def _actor() -> Actor:
    return Actor.of(current_user)


def _booking(booking_id: uuid.UUID) -> Booking:
    try:
        return lifecycle.get_booking(_actor(), booking_id)
    except BookwellError:
        abort(404)


def _zone(booking: Booking) -> str:
    return current_user.provider.timezone if current_user.role == "provider" else booking.location.timezone


def _back(booking: Booking) -> str:
    return safe_local_path(request.values.get("back")) or url_for("staff.booking", booking_id=booking.id)


def _page(template: str, partial: str, **context):
    """The partial for an HTMX request into the detail panel, else the full page."""
    name = partial if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "detail" else template
    return render_template(name, **context)


@bp.get("/bookings/<uuid:booking_id>")
def booking(booking_id):
    found = _booking(booking_id)
    return _page("staff/booking.html", "provider/_booking_detail.html", booking=found, tz=_zone(found),
                 conflicts=agenda.conflicts(found), form_token=new_token(), now=utcnow())


# --- cancel --------------------------------------------------------------------------------------

def _cancel_page(found: Booking, error: str | None = None, reason: str = "", status: int = 200):
    body = _page("staff/cancel.html", "staff/_cancel.html", booking=found, tz=_zone(found), error=error,
                 reason=reason, warning=policy_warning(found, utcnow(), "cancel"), back=_back(found),
                 form_token=new_token())
    return body, status


@bp.get("/bookings/<uuid:booking_id>/cancel")
def cancel(booking_id):
    found = _booking(booking_id)
    if found.status not in OPEN:
        flash(f"This appointment is {found.status.replace('_', ' ')}; there is nothing to cancel.", "info")
        return redirect(url_for("staff.booking", booking_id=found.id))
    return _cancel_page(found)


@bp.post("/bookings/<uuid:booking_id>/cancel")
def cancel_post(booking_id):
    found = _booking(booking_id)
    reason = form_text("reason") or ""
    if not reason:
        return _cancel_page(found, "Tell the patient why: the reason goes into their message.", status=422)
    back = _back(found)

    def handler():
        try:
            lifecycle.cancel(_actor(), found.id, reason)
        except BookwellError as error:
            flash(error.message, "warning")
            return redirect(url_for("staff.booking", booking_id=found.id), code=303)
        flash(f"Cancelled {found.contact_name}'s appointment; they are told why.", "success")
        return redirect(back, code=303)

    return run_once(handler)


# --- reschedule ----------------------------------------------------------------------------------

def _day(value: str | None) -> date | None:
    try:
        return parse_day(value or "")
    except ValueError:
        return None


@bp.get("/bookings/<uuid:booking_id>/reschedule")
def reschedule(booking_id):
    found = _booking(booking_id)
    if found.status not in OPEN:
        flash(f"This appointment is {found.status.replace('_', ' ')}; it cannot be moved.", "info")
        return redirect(url_for("staff.booking", booking_id=found.id))
    providers = target_providers(_actor(), found)
    wanted = parse_uuid(request.args.get("provider_id")) or found.provider_id
    provider = next((p for p in providers if p.id == wanted), None)
    if provider is None:
        abort(404)
    zone = ZoneInfo(provider.locations[0].timezone if provider.locations else found.location.timezone)
    choices = move_choices(found, provider, _day(request.args.get("date")), utcnow().astimezone(zone).date())
    return render_template("staff/reschedule.html", booking=found, providers=providers,
                 choices=choices, tz=_zone(found), warning=policy_warning(found, utcnow(), "reschedule"),
                 back=_back(found), form_token=new_token())


@bp.post("/bookings/<uuid:booking_id>/reschedule")
def reschedule_post(booking_id):
    found = _booking(booking_id)
    provider_id = parse_uuid(request.form.get("provider_id"))
    if provider_id is None:
        abort(400)
    if provider_id not in {p.id for p in target_providers(_actor(), found)}:
        abort(404)
    try:
        start = datetime.fromisoformat(request.form.get("start") or "")
    except ValueError:
        abort(400)
    if start.tzinfo is None:
        abort(400)
    again = url_for("staff.reschedule", booking_id=found.id, provider_id=provider_id, back=request.form.get("back"),
                    date=start.astimezone(ZoneInfo(found.location.timezone)).date().isoformat())
    back = _back(found)

    def handler():
        try:
            moved = lifecycle.reschedule(_actor(), found.id, start=start.astimezone(ZoneInfo("UTC")),
                                         provider_id=provider_id)
        except BookwellError as error:
            flash(error.message if error.code != "SLOT_FULL" else
                  "Someone else just took that time. Nothing was changed; pick another.", "warning")
            return redirect(again, code=303)
        zone = moved.location.timezone
        flash(f"Moved {moved.contact_name} to {moved.start_at.astimezone(ZoneInfo(zone)):%a %d %b %Y, %H:%M} "
              f"({zone}) with {moved.provider.display_name}; they are told and their calendar invite is updated.",
              "success")
        return redirect(back, code=303)

    return run_once(handler)
