"""Every API route, found by walking the URL map (so routes added later are covered):

- every POST/PUT/PATCH/DELETE honours Idempotency-Key: missing -> 400 and nothing
  changes; the same key and body -> the same answer, replayed; the same key with another
  body -> 409 IDEMPOTENCY_KEY_REUSED. Only the exemptions of docs/api.md skip the key.
- errors by shape: a body that is not JSON, or is nested a thousand deep (a 2 KB body),
  -> 400 BAD_REQUEST; well-formed JSON with bad fields -> 422 with details.fields; an
  empty or malformed query value -> 422 naming the parameter; nothing changes.
"""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from app.api.contract import MUTATING, declaration
from app.api.openapi import api_rules, methods_of
from tests.integration.api_helpers import (
    assert_error, cheap_hashing, make_organization, make_user, minted_token, row_counts,
)

EXEMPT = re.compile(r"^/api/v1/(auth/token|calendar/webhooks/.*|calendar/google/push)$")  # docs/api.md: no key
DEEP = "[" * 1000 + "]" * 1000  # 2 KB, deeper than Python's recursion limit


@pytest.fixture
def admin_headers(app, monkeypatch) -> dict:
    cheap_hashing(monkeypatch)
    organization_id = make_organization(app, "Walk Clinic")
    return {"Authorization": f"Bearer {minted_token(app, make_user(app, organization_id, 'admin'))}"}


def _routes(app, mutating: bool):
    for rule in api_rules(app):
        for method in methods_of(rule):
            if (method in MUTATING) == mutating:
                op = declaration(app.view_functions[rule.endpoint])
                assert op is not None, f"{rule.endpoint} has no @operation (docs/api-contract.md)"
                url = re.sub(r"<(?:[a-z]+:)?[a-z_]+>", lambda _: str(uuid.uuid4()), rule.rule)
                yield rule, method, url, op


# --- a body the schema accepts, so the use case runs (ids are unknown: it answers 404) -----------

NAMED = {"email": lambda: f"walk-{uuid.uuid4().hex[:8]}@example.org", "password": lambda: "a-long-enough-password",
         "currency": lambda: "EUR", "start_time": lambda: "09:00", "end_time": lambda: "10:00",
         "phone": lambda: None, "kind": None, "action": None}
SOON = date.today() + timedelta(days=10)


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _value(spec: dict, name: str, schema: dict):
    schema = _resolve(spec, schema)
    if "anyOf" in schema and "properties" not in schema:
        schema = _resolve(spec, next(s for s in schema["anyOf"] if s.get("type") != "null"))
    if NAMED.get(name):
        return NAMED[name]()
    if "enum" in schema:
        return "Europe/Berlin" if "Europe/Berlin" in schema["enum"] else schema["enum"][0]
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "string":
        if fmt == "uuid":
            return str(uuid.uuid4())
        if fmt == "date":
            return (SOON + timedelta(days=1 if name in ("to", "valid_to") else 0)).isoformat()
        if fmt == "date-time":
            hour = 11 if name in ("end", "end_at") else 10
            return datetime.combine(SOON, datetime.min.time(), tzinfo=timezone.utc).replace(hour=hour).isoformat()
        if "pattern" in schema and ":" in schema["pattern"]:
            return "09:00"
        return "Walk " + uuid.uuid4().hex[:6]
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return [_value(spec, name, schema["items"])] if schema.get("minItems") else []
    return None


def valid_body(spec: dict, ref: dict) -> dict:
    """The required fields (and those a one-of or if/then rule asks for) with plausible values."""
    schema = _resolve(spec, ref)
    properties = schema.get("properties", {})
    body: dict = {}
    if "kind" in properties:
        kinds = _resolve(spec, properties["kind"]).get("enum", ["weekly"])
        body["kind"] = "weekly" if "weekly" in kinds else "webhook"  # a webhook connection needs no server
    if "action" in properties:
        body["action"] = "cancel"
    if "name" in properties:
        body["name"] = "Walk Person"  # staff holding for someone name them
    wanted = list(schema.get("required", []))
    for rule in schema.get("allOf", []) + ([schema] if "if" in schema else []):
        condition = rule["if"]["properties"]
        if all(body.get(key) in (spec_.get("enum") or [spec_.get("const")]) for key, spec_ in condition.items()):
            wanted += rule["then"].get("required", [])
    for group in ("anyOf", "oneOf"):
        if group in schema:
            wanted += schema[group][0].get("required", [])
    for name in wanted:
        if name not in body:
            body[name] = _value(spec, name, properties[name])
    return body


def test_every_mutating_route_honours_the_idempotency_key(app, client, admin_headers):
    spec = client.get("/api/openapi.json").get_json()
    walked = []
    for rule, method, url, op in _routes(app, mutating=True):
        if not op.idempotent:
            assert EXEMPT.match(rule.rule), f"{method} {rule.rule} skips Idempotency-Key; docs/api.md allows that only for " \
                                            "POST /auth/token and the calendar receivers"
            continue
        walked.append(rule.rule)
        operation = spec["paths"][re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)][method.lower()]
        body = valid_body(spec, operation["requestBody"]["content"]["application/json"]["schema"]) \
            if "requestBody" in operation else {}

        def send(key: str | None, payload: dict):
            headers = {**admin_headers, **({"Idempotency-Key": key} if key is not None else {})}
            return client.open(url, method=method, json=payload, headers=headers)

        before = row_counts(app)
        assert_error(send(None, body), 400, "IDEMPOTENCY_KEY_REQUIRED")
        assert_error(send("", body), 400, "IDEMPOTENCY_KEY_REQUIRED")
        assert row_counts(app) == before, (method, rule.rule)

        key = f"walk-{uuid.uuid4().hex}"
        first = send(key, body)
        assert first.status_code != 422, (method, rule.rule, body, first.get_json())  # the use case ran
        after_first = row_counts(app)
        again = send(key, body)
        assert (again.status_code, again.get_json()) == (first.status_code, first.get_json()), (method, rule.rule)
        assert again.headers.get("Idempotent-Replayed") == "true", (method, rule.rule)
        assert row_counts(app) == after_first, (method, rule.rule)  # the retry did nothing twice

        other = {**body, "walk_other_field": uuid.uuid4().hex}  # unknown fields are allowed, but it is another body
        assert_error(send(key, other), 409, "IDEMPOTENCY_KEY_REUSED")
        assert row_counts(app) == after_first, (method, rule.rule)
    assert "/api/admin/v1/providers" in walked and "/api/admin/v1/locations/<uuid:location_id>" in walked


def test_three_creates_with_one_key_make_one_provider(app, client, admin_headers):
    headers = {**admin_headers, "Idempotency-Key": "create-provider-once"}
    answers = [client.post("/api/admin/v1/providers", json={"name": "Dr. Once"}, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.get_json()["id"] for a in answers}) == 1
    listed = client.get("/api/admin/v1/providers", headers=admin_headers).get_json()["providers"]
    assert [p["name"] for p in listed] == ["Dr. Once"]


@pytest.mark.parametrize(("data", "content_type"), [
    ('{"name": "Base", "timezone":', "application/json"),  # malformed
    (DEEP, "application/json"),  # nested a thousand deep: never a RecursionError
    ('{"a":' * 500 + "1" + "}" * 500, "application/json"),  # the same with objects
    ("name=Base", "application/x-www-form-urlencoded"),  # not JSON at all
    (b"\xff\xfe{}", "application/json"),  # not UTF-8
    ('{"n": NaN}', "application/json"),  # not JSON either
], ids=["malformed", "deep-arrays", "deep-objects", "form", "not-utf8", "nan"])
def test_a_body_that_is_not_json_is_400_on_every_mutating_route(app, client, admin_headers, data, content_type):
    before = row_counts(app)
    for rule, method, url, op in _routes(app, mutating=True):
        headers = {**admin_headers, "Idempotency-Key": uuid.uuid4().hex}
        response = client.open(url, method=method, data=data, content_type=content_type, headers=headers)
        if op.auth == "signed":  # receivers check their header credential before the body: unsigned is 401
            assert response.status_code in (400, 401), (rule.rule, response.status_code)  # (400: no channel
            continue  # headers, or the depth guard that runs before any view)
        assert_error(response, 400, "BAD_REQUEST")
    assert row_counts(app) == before


def test_a_lone_surrogate_escape_is_400_not_json_like_other_broken_bodies(app, client, admin_headers):
    before = row_counts(app)
    headers = {**admin_headers, "Idempotency-Key": uuid.uuid4().hex}
    response = client.post("/api/admin/v1/locations", data='{"name": "\\ud800 x", "timezone": "UTC"}',
                           content_type="application/json", headers=headers)
    assert "not valid JSON" in assert_error(response, 400, "BAD_REQUEST")["message"]
    assert row_counts(app) == before


def test_deep_json_is_refused_before_any_view_even_outside_the_api(app, client, admin_headers):
    response = client.post("/auth/login", data=DEEP, content_type="application/json")
    assert response.status_code == 400
    for rule, method, url, op in _routes(app, mutating=False):  # reads ignore bodies, but never crash on one
        assert_error(client.open(url, method=method, data=DEEP, content_type="application/json",
                                 headers=admin_headers), 400, "BAD_REQUEST")


def test_well_formed_json_with_bad_fields_is_422_with_fields_on_every_route_with_a_body(app, client, admin_headers):
    before = row_counts(app)
    checked = 0
    for rule, method, url, op in _routes(app, mutating=True):
        if op.body is None:
            continue
        for body in ([], "text", {name: {"nested": True} for name in op.body.model_fields}):
            headers = {**admin_headers, "Idempotency-Key": uuid.uuid4().hex}
            error = assert_error(client.open(url, method=method, json=body, headers=headers), 422, "VALIDATION_ERROR")
            assert error["details"]["fields"], (method, rule.rule, body)
        checked += 1
    assert checked >= 15
    assert row_counts(app) == before


def test_empty_or_malformed_query_values_are_422_naming_the_parameter(app, client, admin_headers):
    checked = 0
    for rule, method, url, op in _routes(app, mutating=False):
        if op.query is None:
            continue
        for field in op.query.model_fields.values():
            name = field.alias or next(n for n, f in op.query.model_fields.items() if f is field)
            if field.annotation is str or "str" == getattr(field.annotation, "__name__", ""):
                continue  # free text: any value is a value
            for value in ("", "%%not-valid%%", "x\x00"):
                response = client.get(url, query_string={name: value}, headers=admin_headers)
                error = assert_error(response, 422, "VALIDATION_ERROR")
                assert name in error["details"]["fields"], (rule.rule, name, value, error)
            checked += 1
    assert checked >= 20
