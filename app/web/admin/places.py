"""Locations and their rooms: list, add and edit (managers and admins)."""
from __future__ import annotations

from flask import abort, render_template, url_for
from flask_login import current_user

from app.api.schemas import LocationCreate, LocationUpdate, RoomCreate
from app.clinic import organization, setup
from app.extensions import db
from app.models import Location, Organization, Room
from app.queries import admin as queries
from app.web.admin import bp
from app.web.admin.forms import LocationEditForm, LocationForm, RoomEditForm, RoomForm, zone_choices
from app.web.admin.submit import Saved, form_page


def _owned(model, row_id):
    row = queries.owned(model, current_user.organization_id, row_id)
    if row is None:
        abort(404)
    return row


@bp.get("/locations")
def locations():
    return render_template("admin/locations.html", locations=queries.all_locations(current_user.organization_id))


@bp.route("/locations/new", methods=["GET", "POST"])
def new_location():
    org_id = current_user.organization_id
    form = LocationForm()
    if not form.is_submitted():
        existing = queries.all_locations(org_id)
        clinic = db.session.get(Organization, org_id)  # a first location lies in the clinic's own zone
        form.timezone.data = existing[0].timezone if existing else (clinic.timezone if clinic else "UTC")
    form.timezone.choices = zone_choices(form.timezone.data)

    def save(shaped: LocationCreate) -> Saved:
        location = setup.create_location(org_id, **shaped.model_dump())
        return Saved(url_for("admin.edit_location", location_id=location.id),
                     f"{location.name} is added. Add its rooms below.")

    return form_page(form, lambda f: render_template("admin/location_form.html", form=f, location=None), save,
                     lambda f: LocationCreate.model_validate(f.payload()))


@bp.route("/locations/<uuid:location_id>", methods=["GET", "POST"])
def edit_location(location_id):
    location = _owned(Location, location_id)
    form = LocationEditForm(obj=location)
    form.timezone.choices = zone_choices(location.timezone)

    def save(shaped: LocationUpdate) -> Saved:
        saved = setup.update_location(current_user.organization_id, location.id, shaped.model_dump())
        return Saved(url_for("admin.locations"), f"{saved.name} is saved.")

    return form_page(form, lambda f: render_template("admin/location_form.html", form=f, location=location), save,
                     lambda f: LocationUpdate.model_validate(f.payload()))


@bp.route("/locations/<uuid:location_id>/rooms/new", methods=["GET", "POST"])
def new_room(location_id):
    location = _owned(Location, location_id)
    form = RoomForm()

    def save(shaped: RoomCreate) -> Saved:
        room = setup.create_room(current_user.organization_id, **shaped.model_dump())
        return Saved(url_for("admin.edit_location", location_id=location.id),
                     f"{room.name} is added to {location.name}.")

    return form_page(form, lambda f: render_template("admin/room_form.html", form=f, location=location, room=None),
                     save, lambda f: RoomCreate.model_validate({**f.payload(), "location_id": location.id}))


@bp.route("/rooms/<uuid:room_id>", methods=["GET", "POST"])
def edit_room(room_id):
    room = _owned(Room, room_id)
    form = RoomEditForm(obj=room)

    def shape(f: RoomEditForm) -> dict:
        shaped = RoomCreate.model_validate({**f.payload(), "location_id": room.location_id})  # a new room's bounds
        return {**shaped.model_dump(include={"name", "capacity", "is_virtual"}), "is_active": f.is_active.data}

    def save(changes: dict) -> Saved:
        saved = organization.update_room(current_user.organization_id, room.id, changes)
        return Saved(url_for("admin.edit_location", location_id=saved.location_id), f"{saved.name} is saved.")

    return form_page(form, lambda f: render_template("admin/room_form.html", form=f, location=room.location,
                                                     room=room), save, shape)
