from flask import redirect, render_template, url_for
from flask_login import current_user

from app.queries import bookings, clinic
from app.tenancy import portal_organization
from app.web.access import home_endpoint, require_role_here
from app.web.patient import bp


@bp.get("/")
def home():
    if current_user.is_authenticated and current_user.role != "patient":
        return redirect(url_for(home_endpoint(current_user.role)))
    organization = portal_organization()
    if organization is None:
        return render_template("patient/no_clinic.html")
    upcoming = []
    if current_user.is_authenticated:
        upcoming = bookings.for_patient(organization.id, current_user.id, upcoming=True, limit=5)
    return render_template(
        "patient/home.html",
        upcoming=upcoming,
        locations=clinic.locations(organization.id),
        providers=clinic.providers(organization.id),
        appointment_types=clinic.appointment_types(organization.id),
        patient_tz=_patient_timezone(),
    )


@bp.get("/appointments")
def appointments():
    gate = require_role_here("patient")
    if gate is not None:
        return gate
    from app.web.once import new_token
    from app.web.patient.manage import policy_notes

    org_id = current_user.organization_id
    upcoming = bookings.for_patient(org_id, current_user.id, upcoming=True)
    return render_template(
        "patient/appointments.html",
        upcoming=upcoming,
        past=bookings.for_patient(org_id, current_user.id, upcoming=False),
        patient_tz=_patient_timezone(),
        notes_by_id={b.id: policy_notes(b) for b in upcoming},
        channels=",".join(f"booking:{b.id}" for b in upcoming),
        form_token=new_token(),
    )


def _patient_timezone() -> str | None:
    if current_user.is_authenticated and current_user.patient_profile is not None:
        return current_user.patient_profile.timezone
    return None
