"""Admin API /api/admin/v1: configure the clinic (reads: admin, manager, frontdesk;
writes: admin, manager). Each endpoint is declared once with `@operation`
(docs/api-contract.md)."""
from __future__ import annotations

from sqlalchemy import select

from app import roles
from app.api import admin_v1
from app.api import responses as r
from app.api.auth import api_user
from app.api.contract import operation
from app.api.schemas import (
    AppointmentTypeCreate,
    AppointmentTypeFields,
    AvailabilityCreate,
    LocationCreate,
    LocationUpdate,
    ProviderCreate,
    ProviderUpdate,
    RoomCreate,
    RoomsQuery,
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
from app.errors import not_found
from app.extensions import db
from app.models import AppointmentType, Location, Provider, Room

READERS = roles.CLINIC_DESK
WRITERS = roles.SETUP


def _org_id():
    return api_user().organization_id


def _get(model, row_id, what):
    row = db.session.get(model, row_id)
    if row is None or row.organization_id != _org_id():
        raise not_found(what)
    return row


def _changes(body) -> dict:
    """Only the fields the request gave."""
    return {name: value for name, value in body.model_dump().items() if name in body.model_fields_set}


@admin_v1.get("/locations")
@operation("Locations", response=r.LocationList, roles=READERS)
def list_locations():
    rows = db.session.scalars(select(Location).where(Location.organization_id == _org_id()).order_by(Location.name))
    return {"locations": [location_out(row) for row in rows]}


@admin_v1.post("/locations")
@operation("Create a location", body=LocationCreate, response=r.LocationOut, status=201, roles=WRITERS)
def create_location(body: LocationCreate):
    return location_out(setup.create_location(_org_id(), **body.model_dump()))


@admin_v1.get("/locations/<uuid:location_id>")
@operation("One location", response=r.LocationOut, roles=READERS)
def get_location(location_id):
    return location_out(_get(Location, location_id, "location"))


@admin_v1.patch("/locations/<uuid:location_id>")
@operation("Change a location", body=LocationUpdate, response=r.LocationOut, roles=WRITERS)
def update_location(location_id, body: LocationUpdate):
    return location_out(setup.update_location(_org_id(), location_id, _changes(body)))


@admin_v1.get("/rooms")
@operation("Rooms", query=RoomsQuery, response=r.RoomList, roles=READERS, errors=[404])
def list_rooms(query: RoomsQuery):
    statement = select(Room).where(Room.organization_id == _org_id()).order_by(Room.name)
    if query.location_id:
        location = db.session.get(Location, query.location_id)
        if location is None or location.organization_id != _org_id():
            raise not_found("location")  # as the location itself
        statement = statement.where(Room.location_id == query.location_id)
    return {"rooms": [room_out(row) for row in db.session.scalars(statement)]}


@admin_v1.post("/rooms")
@operation("Create a room", body=RoomCreate, response=r.RoomOut, status=201, roles=WRITERS, errors=[404])
def create_room(body: RoomCreate):
    return room_out(setup.create_room(_org_id(), **body.model_dump()))


@admin_v1.get("/providers")
@operation("Providers", response=r.ProviderList, roles=READERS)
def list_providers():
    rows = db.session.scalars(select(Provider).where(Provider.organization_id == _org_id())
                              .order_by(Provider.display_name))
    return {"providers": [provider_out(p) for p in rows]}


@admin_v1.post("/providers")
@operation("Create a provider", body=ProviderCreate, response=r.ProviderOut, status=201, roles=WRITERS)
def create_provider(body: ProviderCreate):
    provider = setup.create_provider(_org_id(), name=body.name, location_ids=body.location_ids,
                                     timezone=body.timezone, specialty=body.specialty, bio=body.bio)
    return provider_out(provider)


@admin_v1.patch("/providers/<uuid:provider_id>")
@operation("Change a provider", body=ProviderUpdate, response=r.ProviderOut, roles=WRITERS)
def update_provider(provider_id, body: ProviderUpdate):
    return provider_out(setup.update_provider(_org_id(), provider_id, _changes(body)))


@admin_v1.get("/appointment-types")
@operation("Appointment types", response=r.AppointmentTypeList, roles=READERS)
def list_appointment_types():
    rows = db.session.scalars(select(AppointmentType).where(AppointmentType.organization_id == _org_id())
                              .order_by(AppointmentType.name))
    return {"appointment_types": [appointment_type_out(t) for t in rows]}


@admin_v1.post("/appointment-types")
@operation("Create an appointment type", body=AppointmentTypeCreate, response=r.AppointmentTypeOut, status=201,
           roles=WRITERS, errors=[404])
def create_appointment_type(body: AppointmentTypeCreate):
    return appointment_type_out(setup.create_appointment_type(_org_id(), body.defaults()))


@admin_v1.patch("/appointment-types/<uuid:type_id>")
@operation("Change an appointment type", body=AppointmentTypeFields, response=r.AppointmentTypeOut, roles=WRITERS)
def update_appointment_type(type_id, body: AppointmentTypeFields):
    return appointment_type_out(setup.update_appointment_type(_org_id(), type_id, _changes(body)))


@admin_v1.post("/availabilities")
@operation("Add a weekly, date-range or exception rule (overlaps are 422)", body=AvailabilityCreate,
           response=r.AvailabilityOut, status=201, roles=WRITERS, errors=[404])
def create_availability(body: AvailabilityCreate):
    org_id = _org_id()
    if body.kind == "exception":
        item = setup.add_exception(
            org_id, provider_id=body.provider_id, status=body.status, start_at=body.start_at, end_at=body.end_at,
            day=body.day, start_time=body.start_time, end_time=body.end_time, location_id=body.location_id,
            appointment_type_id=body.appointment_type_id, reason=body.reason, created_by_id=api_user().id,
        )
        return exception_out(item)
    rule = setup.add_weekly_rule(
        org_id, kind=body.kind, provider_id=body.provider_id, location_id=body.location_id,
        days_of_week=body.days_of_week, start_time=body.start_time, end_time=body.end_time,
        breaks=[(b.start_time, b.end_time) for b in body.breaks], valid_from=body.valid_from,
        valid_to=body.valid_to, parallel_sessions=body.parallel_sessions, room_id=body.room_id,
        priority=body.priority,
    )
    return rule_out(rule)


@admin_v1.post("/time-off")
@operation("Request time off", body=TimeOffCreate, response=r.TimeOffOut, status=201, roles=WRITERS, errors=[404])
def create_time_off(body: TimeOffCreate):
    item = setup.request_time_off(_org_id(), provider_id=body.provider_id, start_at=body.start_at,
                                  end_at=body.end_at, reason=body.reason, requested_by_id=api_user().id)
    return time_off_out(item)


def _decide(time_off_id, approve: bool) -> dict:
    item, conflicts = setup.decide_time_off(_org_id(), time_off_id, approve=approve, decided_by=api_user())
    return {**time_off_out(item), "conflicting_booking_ids": [str(b.id) for b in conflicts]}


@admin_v1.post("/time-off/<uuid:time_off_id>/approve")
@operation("Approve time off (lists conflicting bookings)", response=r.TimeOffDecision, roles=WRITERS,
           errors=[409])
def approve_time_off(time_off_id):
    return _decide(time_off_id, True)


@admin_v1.post("/time-off/<uuid:time_off_id>/reject")
@operation("Reject time off", response=r.TimeOffDecision, roles=WRITERS,
           errors=[409])
def reject_time_off(time_off_id):
    return _decide(time_off_id, False)


@admin_v1.post("/slots/generate")
@operation("Materialize slots for a range (idempotent)", body=SlotsGenerate, response=r.GenerateReport,
           roles=WRITERS, errors=[404])
def generate_slots(body: SlotsGenerate):
    if body.provider_id is not None:
        provider_ids = [_get(Provider, body.provider_id, "provider").id]
    else:
        provider_ids = list(db.session.scalars(select(Provider.id).where(Provider.organization_id == _org_id())))
    report = reconcile(provider_ids, body.from_, body.to)
    return {"providers": report.providers, "changed_rows": report.changed_rows}
