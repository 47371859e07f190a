"""Front desk: the approval queue with conflict hints, today per location, check-in.
Booking for callers is in booking.py, the day overview in day.py."""
from __future__ import annotations

from flask import abort, render_template, request, url_for
from flask_login import current_user

from app.booking import lifecycle
from app.extensions import db
from app.models import Booking
from app.queries import agenda, bookings, calendar_flags, clinic
from app.web.access import safe_local_path
from app.web.frontdesk import bp
from app.web.once import new_token
from app.web.staff_actions import COMPLETE, NO_SHOW, perform


@bp.get("/")
def home():
    org_id = current_user.organization_id
    locations = clinic.locations(org_id)
    queue = bookings.pending_requests(org_id)
    return render_template(
        "frontdesk/home.html",
        queue=queue,
        calendar_flags=calendar_flags.flagged_bookings(org_id),
        conflicts={b.id: agenda.conflicts(b) for b in queue},
        today=[(location, bookings.today_at_location(org_id, location)) for location in locations],
        channels=",".join(f"location:{loc.id}" for loc in locations),
        form_token=new_token(),
    )


ACTIONS = {
    "accept": (lambda actor, b, reason: lifecycle.accept(actor, b), "Accepted; the patient is told."),
    "decline": (lambda actor, b, reason: lifecycle.decline(actor, b, reason), "Declined; the time is free again."),
    "check_in": (lambda actor, b, reason: lifecycle.check_in(actor, b), "Checked in."),
    "complete": COMPLETE,
    "no_show": NO_SHOW,
}


@bp.post("/bookings/<uuid:booking_id>/<action>")
def booking_action(booking_id, action):
    if action not in ACTIONS:
        abort(404)
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.organization_id != current_user.organization_id:
        abort(404)
    back = safe_local_path(request.form.get("back")) or url_for("frontdesk.home")
    return perform(ACTIONS[action], booking.id, back)
