"""The patient directory (front desk, managers, admins): one search box over name, email
and phone, patients and guests alike; a page per patient or guest with contact details,
preferences, visits and actions; turning a guest into a patient record.

Staff serving patients see their full phone and email here; logs keep masking them
(app/ops/logging_setup.py)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.booking.actors import Actor
from app.booking.hold import Contact
from app.errors import BookwellError
from app.models import utcnow
from app.patients.guest_records import convert_guest
from app.queries import frontdesk
from app.queries import patients as directory
from app.web.frontdesk import bp
from app.web.frontdesk.booking import _remember_guest, _zones
from app.web.once import new_token, run_once


@bp.get("/patients")
def patients():
    query = request.args.get("q", "")[:200]
    found = directory.search(current_user.organization_id, query) if query.strip() else []
    context = {"query": query, "found": found, "now": utcnow()}
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "directory-results":
        return render_template("frontdesk/_patient_results.html", **context)
    return render_template("frontdesk/patients.html", **context)


@bp.get("/patients/<uuid:patient_id>")
def patient_page(patient_id):
    org_id = current_user.organization_id
    person = frontdesk.patient(org_id, patient_id)
    if person is None:
        abort(404)
    upcoming, past = directory.split_visits(directory.patient_visits(org_id, person.id))
    return render_template("frontdesk/patient.html", person=person, profile=person.patient_profile, guest=None,
                           upcoming=upcoming, past=past, now=utcnow(), form_token=new_token(),
                           zones=_zones(), email_error=None)


def _guest_page(booking_id, email_error: str | None = None, status: int = 200):
    visits = directory.guest_bookings(current_user.organization_id, booking_id)
    if not visits:
        abort(404)
    upcoming, past = directory.split_visits(visits)
    guest = {"id": booking_id, "name": visits[0].guest_name, "email": next((b.guest_email for b in visits
                                                                           if b.guest_email), None),
             "phone": next((b.guest_phone for b in visits if b.guest_phone), None), "visits": len(visits)}
    return render_template("frontdesk/patient.html", person=None, profile=None, guest=guest, upcoming=upcoming,
                           past=past, now=utcnow(), form_token=new_token(), zones=_zones(),
                           email_error=email_error), status


@bp.get("/patients/guest/<uuid:booking_id>")
def guest_page(booking_id):
    return _guest_page(booking_id)


@bp.post("/patients/guest/<uuid:booking_id>/convert")
def convert(booking_id):
    if not directory.guest_bookings(current_user.organization_id, booking_id):
        abort(404)

    def handler():
        try:
            done = convert_guest(Actor.of(current_user), booking_id, email=request.form.get("email", "")[:254],
                                 full_name=request.form.get("full_name", "")[:200] or None)
        except BookwellError as error:
            fields = error.details.get("fields", {}) if error.status == 422 else {}
            flash(next(iter(fields.values()), error.message), "warning")
            return redirect(url_for("frontdesk.guest_page", booking_id=booking_id), code=303)
        verb = "Created the patient record" if done.created else "Merged into the existing patient record"
        flash(f"{verb} of {done.patient.full_name}; {done.moved} visit(s) moved onto it.", "success")
        return redirect(url_for("frontdesk.patient_page", patient_id=done.patient.id), code=303)

    return run_once(handler)


@bp.post("/patients/guest/<uuid:booking_id>/book")
def book_guest(booking_id):
    """Book another visit for a guest: their contact details travel to the booking steps."""
    visits = directory.guest_bookings(current_user.organization_id, booking_id)
    if not visits:
        abort(404)
    contact = Contact(name=visits[0].guest_name or "", email=next((b.guest_email for b in visits if b.guest_email), None),
                      phone=next((b.guest_phone for b in visits if b.guest_phone), None))
    return redirect(url_for("frontdesk.times", caller=_remember_guest(contact)), code=303)
