"""/api/openapi.json: OpenAPI 3.1 for every route under /api.

Paths and methods come from Flask's URL map; what each operation means
(summary, auth, query parameters, body schema, answers) comes from DOCS
below, and request bodies reuse the pydantic models the views validate with.
tests/integration/test_openapi.py walks the URL map: a route without DOCS, or
DOCS without a route, fails the suite.
"""
from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify

from app.api import schemas as s

bp = Blueprint("openapi", __name__)

Q = {  # query parameters: name -> (schema, description)
    "appointment_type_id": ({"type": "string", "format": "uuid"}, "Appointment type"),
    "provider_id": ({"type": "string", "format": "uuid"}, "Provider"),
    "location_id": ({"type": "string", "format": "uuid"}, "Location"),
    "date": ({"type": "string", "format": "date"}, "One local date"),
    "from": ({"type": "string", "format": "date"}, "First local date (inclusive)"),
    "to": ({"type": "string", "format": "date"}, "Last local date (inclusive)"),
    "timezone": ({"type": "string"}, "IANA zone for local times (default: the location's or provider's)"),
    "status": ({"type": "string"}, "Booking status"),
    "page": ({"type": "integer", "minimum": 1}, "Page number"),
    "per_page": ({"type": "integer", "minimum": 1, "maximum": 200}, "Rows per page"),
}

# endpoint -> (summary, auth, query, body model, success status, error statuses)
DOCS: dict[str, tuple] = {
    "api_v1.token": ("Sign in and get a bearer token", None, [], s.TokenRequest, 200, [401, 422]),
    "api_v1.register": ("Patient sign-up", None, [], s.RegisterRequest, 201, [400, 409, 422]),
    "api_v1.providers": ("Active providers", None, ["location_id", "appointment_type_id"], None, 200, [404, 422]),
    "api_v1.appointment_types": ("Bookable appointment types", None, ["provider_id"], None, 200, [422]),
    "api_v1.dates": ("Dates with availability counts", None,
                     ["appointment_type_id", "provider_id", "location_id", "from", "to", "date", "timezone"],
                     None, 200, [404, 422]),
    "api_v1.slots": ("Exposed slots (a sample; header X-Exposure-Variant: all shows every slot)", None,
                     ["appointment_type_id", "provider_id", "location_id", "date", "from", "to", "timezone"],
                     None, 200, [404, 422]),
    "api_v1.provider_availability": ("Every open slot of a provider in a range", None,
                                     ["appointment_type_id", "from", "to", "date", "timezone"], None, 200, [404, 422]),
    "api_v1.create_booking": ("Hold a time (guests add name and email or phone)", "optional", [], s.HoldRequest,
                              201, [400, 404, 409, 422, 429]),
    "api_v1.confirm_booking": ("Confirm a hold (guests present the hold_token)", "optional", [], s.ConfirmRequest,
                               200, [400, 403, 404, 409, 422, 429]),
    "api_v1.cancel_booking": ("Cancel (patients within policy, staff any time)", "optional", [], s.CancelRequest,
                              200, [400, 403, 404, 409, 422, 429]),
    "api_v1.reschedule_booking": ("Move a booking atomically", "bearer", [], s.RescheduleRequest, 200,
                                  [400, 401, 404, 409, 422, 429]),
    "api_v1.accept_booking": ("Accept a pending request", "bearer", [], s.DecisionRequest, 200,
                              [400, 401, 403, 404, 409, 429]),
    "api_v1.decline_booking": ("Decline a pending request", "bearer", [], s.DecisionRequest, 200,
                               [400, 401, 403, 404, 409, 429]),
    "api_v1.my_bookings": ("The caller's bookings", "bearer", [], None, 200, [401]),
    "api_v1.get_booking": ("One booking the caller may see", "bearer", [], None, 200, [401, 404]),
    "admin_v1.list_locations": ("Locations", "bearer", [], None, 200, [401, 403]),
    "admin_v1.create_location": ("Create a location", "bearer", [], s.LocationCreate, 201, [401, 403, 422]),
    "admin_v1.get_location": ("One location", "bearer", [], None, 200, [401, 403, 404]),
    "admin_v1.update_location": ("Change a location", "bearer", [], s.LocationUpdate, 200, [401, 403, 404, 422]),
    "admin_v1.list_rooms": ("Rooms", "bearer", ["location_id"], None, 200, [401, 403, 422]),
    "admin_v1.create_room": ("Create a room", "bearer", [], s.RoomCreate, 201, [401, 403, 404, 422]),
    "admin_v1.list_providers": ("Providers", "bearer", [], None, 200, [401, 403]),
    "admin_v1.create_provider": ("Create a provider", "bearer", [], s.ProviderCreate, 201, [401, 403, 422]),
    "admin_v1.update_provider": ("Change a provider", "bearer", [], s.ProviderUpdate, 200, [401, 403, 404, 422]),
    "admin_v1.list_appointment_types": ("Appointment types", "bearer", [], None, 200, [401, 403]),
    "admin_v1.create_appointment_type": ("Create an appointment type", "bearer", [], s.AppointmentTypeCreate, 201,
                                         [401, 403, 404, 422]),
    "admin_v1.update_appointment_type": ("Change an appointment type", "bearer", [], s.AppointmentTypeFields, 200,
                                         [401, 403, 404, 422]),
    "admin_v1.create_availability": ("Add a weekly, date-range or exception rule (overlaps are 422)", "bearer", [],
                                     s.AvailabilityCreate, 201, [401, 403, 404, 422]),
    "admin_v1.create_time_off": ("Request time off", "bearer", [], s.TimeOffCreate, 201, [401, 403, 404, 422]),
    "admin_v1.approve_time_off": ("Approve time off (lists conflicting bookings)", "bearer", [], None, 200,
                                  [401, 403, 404, 409]),
    "admin_v1.reject_time_off": ("Reject time off", "bearer", [], None, 200, [401, 403, 404, 409]),
    "admin_v1.generate_slots": ("Materialize slots for a range (idempotent)", "bearer", [], s.SlotsGenerate, 200,
                                [401, 403, 404, 422]),
    "admin_v1.list_bookings": ("Bookings, filtered and paginated", "bearer",
                               ["status", "provider_id", "location_id", "from", "to", "page", "per_page"],
                               None, 200, [401, 403, 422]),
    "admin_v1.patch_booking": ("Cancel, reschedule, complete or mark a no-show", "bearer", [], s.BookingPatch, 200,
                               [400, 401, 403, 404, 409, 422]),
    "admin_v1.analytics_summary": ("Utilization, conversion and no-show rate by provider and day", "bearer",
                                   ["from", "to"], None, 200, [401, 403, 422]),
}

from app.api.calendar_routes import OPENAPI_DOCS as _CALENDAR_DOCS  # noqa: E402

DOCS.update(_CALENDAR_DOCS)

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "details"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}}}},
}
MUTATING = {"POST", "PATCH", "PUT", "DELETE"}


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def build_spec() -> dict:
    paths: dict = {}
    components: dict = {"Error": ERROR_SCHEMA}
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint == "openapi.spec":
            continue
        summary, auth, query, body, ok, errors = DOCS[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation: dict = {
                "operationId": rule.endpoint.replace(".", "_"),
                "summary": summary,
                "parameters": [
                    {"name": arg, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
                    for arg in sorted(rule.arguments)
                ] + [
                    {"name": name, "in": "query", "required": False, "schema": Q[name][0], "description": Q[name][1]}
                    for name in query
                ],
                "responses": {str(ok): {"description": "Success", "content": {"application/json": {"schema": {
                    "type": "object"}}}}},
            }
            for status in errors:
                operation["responses"][str(status)] = {"description": "Error", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            if auth == "bearer":
                operation["security"] = [{"bearer": []}]
            elif auth == "optional":
                operation["security"] = [{}, {"bearer": []}]
            elif auth == "signature":  # HMAC-signed, deduplicated by delivery id: no Idempotency-Key
                operation["parameters"].append({"name": "X-Bookwell-Signature", "in": "header", "required": True,
                                                "schema": {"type": "string"}})
            if method in MUTATING and auth != "signature":
                operation["parameters"].append({"name": "Idempotency-Key", "in": "header", "required": True,
                                                "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
            if body is not None:
                schema = body.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
                components.update(schema.pop("$defs", {}))
                components[body.__name__] = schema
                operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
                    "$ref": f"#/components/schemas/{body.__name__}"}}}}
            paths.setdefault(openapi_path(rule.rule), {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Bookwell API", "version": "1.0.0",
                 "description": "Appointment booking. Errors: {error: {code, message, details}}."},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }


@bp.get("/api/openapi.json")
def spec():
    return jsonify(build_spec())
