"""Admin API /api/admin/v1: configure the clinic (reads: admin, manager, frontdesk;
writes: admin, manager)."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from app.api import admin_v1
from app.api.auth import api_user, require_roles
from app.api.params import json_body, uuid_arg
from app.api.schemas import (
    AppointmentTypeCreate,
    AppointmentTypeFields,
    AvailabilityCreate,
    LocationCreate,
    LocationUpdate,
    ProviderCreate,
    ProviderUpdate,
    RoomCreate,
    SlotsGenerate,
    TimeOffCreate,
    appointment_type_out,
    exception_out,
    location_out,
    provider_out,
    room_out,
    rule_out,
    time_off_out,
)
from app.availability.reconcile import reconcile
from app.clinic import setup
from app.errors import not_found, validation_error
from app.extensions import db
from app.models import AppointmentType, Location, Provider, Room

READERS = ("admin", "manager", "frontdesk")
WRITERS = ("admin", "manager")


def _org_id():
    return api_user().organization_id


def _get(model, row_id, what):
    row = db.session.get(model, row_id)
    if row is None or row.organization_id != _org_id():
        raise not_found(what)
    return row


def _changes(model_cls, body: dict) -> dict:
    shaped = model_cls.model_validate(body)
    return {k: v for k, v in shaped.model_dump(exclude_unset=True).items() if k in shaped.model_fields_set}


@admin_v1.get("/locations")
@require_roles(*READERS)
def list_locations():
    rows = db.session.scalars(select(Location).where(Location.organization_id == _org_id()).order_by(Location.name))
    return jsonify({"locations": [location_out(r) for r in rows]})


@admin_v1.post("/locations")
@require_roles(*WRITERS)
def create_location():
    body = LocationCreate.model_validate(json_body())
    return jsonify(location_out(setup.create_location(_org_id(), **body.model_dump()))), 201


@admin_v1.get("/locations/<uuid:location_id>")
@require_roles(*READERS)
def get_location(location_id):
    return jsonify(location_out(_get(Location, location_id, "location")))


@admin_v1.patch("/locations/<uuid:location_id>")
@require_roles(*WRITERS)
def update_location(location_id):
    changes = _changes(LocationUpdate, json_body())
    return jsonify(location_out(setup.update_location(_org_id(), location_id, changes)))


@admin_v1.get("/rooms")
@require_roles(*READERS)
def list_rooms():
    query = select(Room).where(Room.organization_id == _org_id()).order_by(Room.name)
    location_id = uuid_arg("location_id")
    if location_id:
        query = query.where(Room.location_id == location_id)
    return jsonify({"rooms": [room_out(r) for r in db.session.scalars(query)]})


@admin_v1.post("/rooms")
@require_roles(*WRITERS)
def create_room():
    body = RoomCreate.model_validate(json_body())
    return jsonify(room_out(setup.create_room(_org_id(), **body.model_dump()))), 201


@admin_v1.get("/providers")
@require_roles(*READERS)
def list_providers():
    rows = db.session.scalars(select(Provider).where(Provider.organization_id == _org_id())
                              .order_by(Provider.display_name))
    return jsonify({"providers": [provider_out(p) for p in rows]})


@admin_v1.post("/providers")
@require_roles(*WRITERS)
def create_provider():
    body = ProviderCreate.model_validate(json_body())
    provider = setup.create_provider(_org_id(), name=body.name, location_ids=body.location_ids,
                                     timezone=body.timezone, specialty=body.specialty, bio=body.bio)
    return jsonify(provider_out(provider)), 201


@admin_v1.patch("/providers/<uuid:provider_id>")
@require_roles(*WRITERS)
def update_provider(provider_id):
    changes = _changes(ProviderUpdate, json_body())
    return jsonify(provider_out(setup.update_provider(_org_id(), provider_id, changes)))


@admin_v1.get("/appointment-types")
@require_roles(*READERS)
def list_appointment_types():
    rows = db.session.scalars(select(AppointmentType).where(AppointmentType.organization_id == _org_id())
                              .order_by(AppointmentType.name))
    return jsonify({"appointment_types": [appointment_type_out(t) for t in rows]})


@admin_v1.post("/appointment-types")
@require_roles(*WRITERS)
def create_appointment_type():
    body = AppointmentTypeCreate.model_validate(json_body())
    return jsonify(appointment_type_out(setup.create_appointment_type(_org_id(), body.defaults()))), 201


@admin_v1.patch("/appointment-types/<uuid:type_id>")
@require_roles(*WRITERS)
def update_appointment_type(type_id):
    changes = _changes(AppointmentTypeFields, json_body())
    return jsonify(appointment_type_out(setup.update_appointment_type(_org_id(), type_id, changes)))


@admin_v1.post("/availabilities")
@require_roles(*WRITERS)
def create_availability():
    body = AvailabilityCreate.model_validate(json_body())
    org_id = _org_id()
    if body.kind == "exception":
        item = setup.add_exception(
            org_id, provider_id=body.provider_id, status=body.status, start_at=body.start_at, end_at=body.end_at,
            day=body.day, start_time=body.start_time, end_time=body.end_time, location_id=body.location_id,
            appointment_type_id=body.appointment_type_id, reason=body.reason, created_by_id=api_user().id,
        )
        return jsonify(exception_out(item)), 201
    for index, item in enumerate(body.breaks):
        if item.start_time == item.end_time:
            raise validation_error({f"breaks.{index}.end_time": "A break must not be empty."})
    rule = setup.add_weekly_rule(
        org_id, kind=body.kind, provider_id=body.provider_id, location_id=body.location_id,
        days_of_week=body.days_of_week, start_time=body.start_time, end_time=body.end_time,
        breaks=[(b.start_time, b.end_time) for b in body.breaks], valid_from=body.valid_from,
        valid_to=body.valid_to, parallel_sessions=body.parallel_sessions, room_id=body.room_id,
        priority=body.priority,
    )
    return jsonify(rule_out(rule)), 201


@admin_v1.post("/time-off")
@require_roles(*WRITERS)
def create_time_off():
    body = TimeOffCreate.model_validate(json_body())
    item = setup.request_time_off(_org_id(), provider_id=body.provider_id, start_at=body.start_at,
                                  end_at=body.end_at, reason=body.reason, requested_by_id=api_user().id)
    return jsonify(time_off_out(item)), 201


def _decide(time_off_id, approve: bool):
    item, conflicts = setup.decide_time_off(_org_id(), time_off_id, approve=approve, decided_by=api_user())
    return jsonify({**time_off_out(item), "conflicting_booking_ids": [str(b.id) for b in conflicts]})


@admin_v1.post("/time-off/<uuid:time_off_id>/approve")
@require_roles(*WRITERS)
def approve_time_off(time_off_id):
    return _decide(time_off_id, True)


@admin_v1.post("/time-off/<uuid:time_off_id>/reject")
@require_roles(*WRITERS)
def reject_time_off(time_off_id):
    return _decide(time_off_id, False)


@admin_v1.post("/slots/generate")
@require_roles(*WRITERS)
def generate_slots():
    body = SlotsGenerate.model_validate(json_body())
    if body.to < body.from_:
        raise validation_error({"to": "to is before from."})
    if body.provider_id is not None:
        provider_ids = [_get(Provider, body.provider_id, "provider").id]
    else:
        provider_ids = list(db.session.scalars(select(Provider.id).where(Provider.organization_id == _org_id())))
    report = reconcile(provider_ids, body.from_, body.to)
    return jsonify({"providers": report.providers, "changed_rows": report.changed_rows})
