"""Appointment types and their policies: list, add and edit (managers and admins)."""
from __future__ import annotations

from decimal import Decimal

from flask import abort, render_template, url_for
from flask_login import current_user

from app.api.schemas import AppointmentTypeCreate, AppointmentTypeFields
from app.clinic import setup
from app.models import AppointmentType
from app.queries import admin as queries
from app.web.admin import bp
from app.web.admin.forms import MODE_LABELS, AppointmentTypeForm, options
from app.web.admin.submit import Saved, form_page

POLICY_FIELDS = ("name", "description", "mode", "duration_minutes", "buffer_before_minutes", "buffer_after_minutes",
                 "slot_interval_minutes", "seats", "min_notice_minutes", "max_future_days", "requires_approval",
                 "allow_patient_reschedule", "max_reschedules", "cancel_notice_minutes", "is_active")


def _choices(form: AppointmentTypeForm) -> None:
    org_id = current_user.organization_id
    rooms = queries.all_rooms(org_id)
    form.location_id.choices = options([("", "Where the clinician works"), *((str(loc.id), loc.name)
                                                        for loc in queries.all_locations(org_id))])
    form.room_id.choices = options([("", "No particular room"), *((str(room.id), f"{room.location.name} · {room.name}")
                                                    for room in rooms)])
    form.room_locations = {str(room.id): str(room.location_id) for room in rooms}
    form.provider_ids.choices = options((str(p.id), p.display_name if p.is_active else f"{p.display_name} (inactive)")
                                        for p in queries.all_providers(org_id))


def _form_data(kind: AppointmentType) -> dict:
    return {
        **{name: getattr(kind, name) for name in POLICY_FIELDS},
        "price": None if kind.price_cents is None else Decimal(kind.price_cents) / 100,
        "currency": kind.currency or "",
        "location_id": str(kind.default_location_id) if kind.default_location_id else "",
        "room_id": str(kind.default_room_id) if kind.default_room_id else "",
        "provider_ids": [str(p.id) for p in kind.providers],
    }


def _render(form: AppointmentTypeForm, kind: AppointmentType | None):
    return render_template("admin/appointment_type_form.html", form=form, kind=kind)


@bp.get("/appointment-types")
def appointment_types():
    return render_template("admin/appointment_types.html", mode_labels=MODE_LABELS,
                           kinds=queries.all_appointment_types(current_user.organization_id))


def _unoffered(kind: AppointmentType) -> str:
    """An active type nobody offers is bookable by nobody: say so beside the success."""
    return (" No clinician offers it yet, so patients cannot book it: choose who does."
            if kind.is_active and not kind.providers else "")


@bp.route("/appointment-types/new", methods=["GET", "POST"])
def new_appointment_type():
    form = AppointmentTypeForm()
    _choices(form)

    def save(data: dict) -> Saved:
        kind = setup.create_appointment_type(current_user.organization_id, data)
        return Saved(url_for("admin.appointment_types"), f"{kind.name} is added.{_unoffered(kind)}")

    return form_page(form, lambda f: _render(f, None), save,
                     lambda f: AppointmentTypeCreate.model_validate(f.payload()).defaults())


@bp.route("/appointment-types/<uuid:type_id>", methods=["GET", "POST"])
def edit_appointment_type(type_id):
    kind = queries.owned(AppointmentType, current_user.organization_id, type_id)
    if kind is None:
        abort(404)
    form = AppointmentTypeForm(data=_form_data(kind))
    _choices(form)

    def shape(f: AppointmentTypeForm) -> dict:
        payload = f.payload()  # the whole form is the new state: empty optional fields clear their policy
        return AppointmentTypeFields.model_validate(payload).model_dump(include=set(payload))

    def save(changes: dict) -> Saved:
        saved = setup.update_appointment_type(current_user.organization_id, kind.id, changes)
        return Saved(url_for("admin.appointment_types"), f"{saved.name} is saved.{_unoffered(saved)}")

    return form_page(form, lambda f: _render(f, kind), save, shape)
