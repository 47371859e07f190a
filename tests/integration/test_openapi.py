"""The OpenAPI document and the routes agree, both ways."""
from __future__ import annotations

import re

from app.api.openapi import DOCS, openapi_path


def _api_routes(app) -> set[tuple[str, str]]:
    return {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.endpoint != "openapi.spec"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_api_route_is_documented_and_every_documented_operation_exists(app, client):
    spec = client.get("/api/openapi.json").json
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert documented == _api_routes(app)
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()
                 if rule.rule.startswith("/api/") and rule.endpoint != "openapi.spec"}
    assert endpoints == set(DOCS), "DOCS must name exactly the API endpoints"


def test_the_document_is_openapi_3_1_with_resolvable_references(client):
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"] == "3.1.0"
    text = str(spec)
    for ref in set(re.findall(r"#/components/schemas/([A-Za-z0-9_]+)", text)):
        assert ref in spec["components"]["schemas"], ref
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (path, method)
            names = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert names == set(re.findall(r"{([a-z_]+)}", path)), (path, method)
            if method in ("post", "patch") and not path.startswith("/api/v1/calendar/webhooks/"):  # signed instead
                assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"]), (path, method)


def test_request_bodies_are_the_schemas_the_views_validate_with(client):
    spec = client.get("/api/openapi.json").json
    hold = spec["paths"]["/api/v1/bookings"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = spec["components"]["schemas"][hold["$ref"].rsplit("/", 1)[1]]
    assert {"slot_id", "provider_id", "appointment_type_id", "start", "name", "email"} <= set(schema["properties"])
    generate = spec["components"]["schemas"]["SlotsGenerate"]
    assert "from" in generate["properties"]  # the alias, as clients send it
