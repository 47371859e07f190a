"""The OpenAPI document is generated from the endpoints' `@operation` declarations and
agrees with the server: every route, every status, nullable fields, zones, one-of rules
and typed answers (the fuzzing itself is in test_api_schemathesis.py)."""
from __future__ import annotations

import re

import pytest

from app.api.fields import zone_names
from app.api.openapi import api_rules, methods_of, openapi_path, statuses
from tests.integration.api_helpers import Api, assert_error, cheap_hashing, make_organization, make_user, minted_token

ADMIN = "/api/admin/v1"


def _api_routes(app) -> set[tuple[str, str]]:
    return {(openapi_path(rule.rule), method.lower()) for rule in api_rules(app) for method in methods_of(rule)}


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def admin(app, client, monkeypatch) -> Api:
    cheap_hashing(monkeypatch)
    return Api(client, minted_token(app, make_user(app, make_organization(app, "Spec Clinic"), "admin")))


def test_every_api_route_is_documented_and_every_documented_operation_exists(app, spec):
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert documented == _api_routes(app)


def test_the_document_is_openapi_3_1_with_resolvable_references(spec):
    assert spec["openapi"] == "3.1.0"
    for ref in set(re.findall(r"#/components/schemas/([A-Za-z0-9_]+)", str(spec))):
        assert ref in spec["components"]["schemas"], ref
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            names = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert names == set(re.findall(r"{([a-z_]+)}", path)), (path, method)


def test_each_operation_lists_exactly_the_statuses_its_declaration_allows(app, spec):
    with app.test_request_context():
        expected = {(rule.rule, method): statuses(app, rule, method)
                    for rule in api_rules(app) for method in methods_of(rule)}
    assert 429 in expected[("/api/v1/bookings", "POST")] and 429 in expected[("/api/v1/auth/register", "POST")]
    for rule in api_rules(app):
        for method in methods_of(rule):
            operation = spec["paths"][openapi_path(rule.rule)][method.lower()]
            assert {int(code) for code in operation["responses"]} == expected[(rule.rule, method)], rule.rule
            if method in ("POST", "PATCH", "PUT", "DELETE"):
                documented_400 = operation["responses"].get("400", {}).get("description", "")
                assert "BAD_REQUEST" in documented_400, (rule.rule, method)  # malformed JSON
                assert "413" in operation["responses"], (rule.rule, method)


def test_every_success_answer_is_typed(spec):
    schemas = spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            code, success = next((c, r) for c, r in operation["responses"].items() if c.startswith("2"))
            if code == "204":
                assert "content" not in success
                continue
            schema = success["content"]["application/json"]["schema"]
            refs = [schema] if "$ref" in schema else schema.get("anyOf", [])
            assert refs, (path, method, schema)
            for ref in refs:
                model = schemas[ref["$ref"].rsplit("/", 1)[1]]
                assert model["properties"] and model.get("additionalProperties") is False, (path, method)
                assert set(model["required"]) == set(model["properties"]), (path, method)


def test_request_bodies_are_the_schemas_the_views_validate_with(spec):
    schemas = spec["components"]["schemas"]
    hold = spec["paths"]["/api/v1/bookings"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = schemas[hold["$ref"].rsplit("/", 1)[1]]
    assert {"slot_id", "provider_id", "appointment_type_id", "start", "name", "email"} <= set(schema["properties"])
    assert "from" in schemas["SlotsGenerate"]["properties"]  # the alias, as clients send it


def test_the_one_of_rules_are_in_the_schemas(spec):
    schemas = spec["components"]["schemas"]
    assert [sorted(branch["required"]) for branch in schemas["HoldRequest"]["anyOf"]] == [
        ["slot_id"], ["appointment_type_id", "provider_id", "start"]]
    assert [branch["required"] for branch in schemas["RescheduleRequest"]["oneOf"]] == [["slot_id"], ["start"]]
    assert schemas["BookingPatch"]["then"] == {"oneOf": schemas["RescheduleRequest"]["oneOf"]}
    slots = spec["paths"]["/api/v1/slots"]["get"]
    assert "Exactly one of `provider_id` or `location_id`" in slots["description"]


def test_zone_fields_are_iana_zones_in_the_document_and_on_the_server(spec, admin):
    zone = spec["components"]["schemas"]["TimeZone"]
    assert zone["enum"] == list(zone_names()) and "Europe/Berlin" in zone["enum"] and "Mars/Olympus" not in zone["enum"]
    for name in ("LocationCreate", "ProviderCreate", "RegisterRequest", "HoldRequest"):
        text = str(spec["components"]["schemas"][name]["properties"]["timezone"])
        assert "#/components/schemas/TimeZone" in text, name
    params = {p["name"]: p for p in spec["paths"]["/api/v1/slots"]["get"]["parameters"]}
    assert params["timezone"]["schema"]["$ref"] == "#/components/schemas/TimeZone"
    assert_error(admin.post(f"{ADMIN}/providers", {"name": "Dr. Z", "timezone": "Mars/Olympus"}), 422,
                 "VALIDATION_ERROR", "timezone")
    assert admin.post(f"{ADMIN}/providers", {"name": "Dr. Z", "timezone": "Pacific/Chatham"}).status_code == 201


def test_fields_that_may_be_omitted_but_not_nulled_say_so(spec, admin):
    update = spec["components"]["schemas"]["LocationUpdate"]["properties"]
    assert "null" not in str(update["name"]) and "null" not in str(update["timezone"])
    assert {"type": "null"} in update["address"]["anyOf"]
    location = admin.created(f"{ADMIN}/locations", {"name": "Quay", "timezone": "Europe/Berlin", "address": "1 Quay"})
    assert_error(admin.patch(f"{ADMIN}/locations/{location['id']}", {"name": None}), 422, "VALIDATION_ERROR", "name")
    cleared = admin.ok(admin.patch(f"{ADMIN}/locations/{location['id']}", {"address": None}))
    assert cleared["address"] is None and cleared["name"] == "Quay"
    fields = spec["components"]["schemas"]["AppointmentTypeFields"]["properties"]
    assert "null" not in str(fields["duration_minutes"]) and {"type": "null"} in fields["max_reschedules"]["anyOf"]
