"""/api/openapi.json: OpenAPI 3.1, generated from the `@operation` declarations.

Paths and methods come from Flask's URL map; everything else about an operation comes
from its declaration (app/api/contract.py): summary, security, query parameters and
request body (the pydantic models the server validates with), the typed success answer
and every status it may give (declared refusals plus those the declaration implies:
400/409 for Idempotency-Key, 401/403 for auth, 404 for path ids, 422 for models, 413
for bodies; 429 where the rate limiter has a limit). An API route without a
declaration makes the build fail. docs/api-contract.md explains the mechanism.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from pydantic import BaseModel, TypeAdapter

from app.api.contract import MUTATING, Operation, declaration
from app.api.fields import ZONE_FORMAT, ZONE_SCHEMA_NAME, zone_schema

bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{model}"
ERROR_SCHEMA = {
    "type": "object", "required": ["error"], "additionalProperties": False,
    "properties": {"error": {
        "type": "object", "required": ["code", "message", "details"], "additionalProperties": False,
        "properties": {"code": {"type": "string", "pattern": "^[A-Z][A-Z_]*$"}, "message": {"type": "string"},
                       "details": {"type": "object"}}}},
}
ERRORS = {  # status -> what it means (codes as in docs/api.md)
    400: "BAD_REQUEST (the body is not JSON, or is nested too deeply) or IDEMPOTENCY_KEY_REQUIRED",
    401: "UNAUTHENTICATED: no bearer token, or one that is invalid or expired (receivers: a missing or wrong "
         "signature or channel token)",
    403: "FORBIDDEN: the caller's role may not do this",
    404: "NOT_FOUND (also for rows of another organization or patient)",
    409: "A conflict: SLOT_FULL, SLOT_UNAVAILABLE, HOLD_EXPIRED, INVALID_TRANSITION, POLICY_VIOLATION, "
         "IDEMPOTENCY_KEY_REUSED, CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    422: "VALIDATION_ERROR; details.fields names each refused field or parameter",
    429: "RATE_LIMITED; retry after Retry-After seconds",
}
SPEC_ENDPOINT = "openapi.spec"


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def api_rules(app: Flask):
    """The URL rules the document covers: everything under /api/ but the document itself."""
    return [rule for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/api/") and rule.endpoint != SPEC_ENDPOINT]


def operation_of(app: Flask, endpoint: str) -> Operation:
    found = declaration(app.view_functions[endpoint])
    if found is None:
        raise LookupError(f"API endpoint {endpoint} has no @operation declaration (docs/api-contract.md)")
    return found


def methods_of(rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def rate_limited(app: Flask, endpoint: str, method: str) -> bool:
    """Whether Flask-Limiter has a limit that applies to this endpoint and method."""
    limiter = app.extensions.get("bookwell_limiter")
    if limiter is None:
        return False
    try:
        manager = limiter.limit_manager
        limits, decorated = manager.resolve_limits(app, endpoint, endpoint.rpartition(".")[0] or None)
        every = [*limits, *decorated, *manager.application_limits]
        return any(not limit.methods or method.lower() in limit.methods for limit in every)
    except Exception:  # noqa: BLE001 - a changed private API: say 429 may happen rather than not
        return True


def statuses(app: Flask, rule, method: str) -> set[int]:
    """Every status one operation may answer, as the document lists them."""
    found = operation_of(app, rule.endpoint).statuses(method, bool(rule.arguments))
    if rate_limited(app, rule.endpoint, method):
        found.add(429)
    return found


class _Components:
    def __init__(self):
        self.schemas: dict[str, Any] = {"Error": ERROR_SCHEMA, ZONE_SCHEMA_NAME: zone_schema()}

    def schema_of(self, kind: Any) -> dict:
        """A reference to a model's component (added on first use), or an inline schema."""
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            schema = kind.model_json_schema(ref_template=REF, by_alias=True)
            self._add_defs(schema)
            self.schemas[kind.__name__] = _clean(schema)
            return {"$ref": REF.format(model=kind.__name__)}
        schema = TypeAdapter(kind).json_schema(ref_template=REF, by_alias=True)
        self._add_defs(schema)
        return _clean(schema)

    def _add_defs(self, schema: dict) -> None:
        for name, item in schema.pop("$defs", {}).items():
            self.schemas[name] = _clean(item)


def _nullable(schema: dict) -> bool:
    return schema.get("type") == "null" or any(_nullable(s) for s in schema.get("anyOf", []))


def _clean(node: Any) -> Any:
    """Zone fields point at the TimeZone component; `default: null` stays only where null
    is allowed (a field that may be omitted but not nulled says so by having no null)."""
    if isinstance(node, list):
        return [_clean(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("format") == ZONE_FORMAT:
        return {"$ref": REF.format(model=ZONE_SCHEMA_NAME),
                **({"description": node["description"]} if "description" in node else {})}
    out = {key: _clean(value) for key, value in node.items()}
    if "default" in out and out["default"] is None and not _nullable(out):
        del out["default"]
    return out


def _without_null(schema: dict) -> dict:
    """A query parameter may be absent, never null: drop the null branch pydantic adds."""
    branches = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if "anyOf" in schema and len(branches) == 1:
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default", "title")}
        return {**branches[0], **rest}
    return {k: v for k, v in schema.items() if k != "title" and not (k == "default" and v is None)}


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = _clean(model.model_json_schema(ref_template=REF, by_alias=True))
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(prop)
        description = prop.pop("description", None)
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        out.append(parameter)
    return out


def _operation(app: Flask, rule, method: str, op: Operation, components: _Components) -> dict:
    parameters = [{"name": arg, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
                  for arg in sorted(rule.arguments)]
    description = op.description or ""
    if op.query is not None:
        parameters += _query_parameters(op.query)
        if op.query.__doc__ and op.query.__doc__.strip() and not description:
            description = op.query.__doc__.strip()
    if method in MUTATING and op.idempotent:
        parameters.append({"name": "Idempotency-Key", "in": "header", "required": True,
                           "description": "Any unique string; a retry with the same key and body replays the "
                                          "first answer for 24 hours.",
                           "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
    success: dict = {"description": "Success"}
    if op.response is not None:
        success["content"] = {"application/json": {"schema": components.schema_of(op.response)}}
    responses = {str(op.status): success}
    for status in sorted(statuses(app, rule, method) - {op.status}):
        responses[str(status)] = {"description": ERRORS.get(status, "Error"), "content": {
            "application/json": {"schema": {"$ref": REF.format(model="Error")}}}}
        if status == 429:
            responses["429"]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    operation: dict = {
        "operationId": rule.endpoint.replace(".", "_") + ("" if len(methods_of(rule)) == 1 else f"_{method.lower()}"),
        "summary": op.summary,
        "parameters": parameters,
        "responses": responses,
        "security": [{op.credential: []}] if op.auth == "signed" else
        {"none": [], "optional": [{}, {"bearer": []}], "user": [{"bearer": []}]}[op.auth],
    }
    if description:
        operation["description"] = description
    if op.body is not None:
        ref = components.schema_of(op.body)
        required = bool(components.schemas[op.body.__name__].get("required"))
        operation["requestBody"] = {"required": required, "content": {"application/json": {"schema": ref}}}
    return operation


def build_spec(app: Flask | None = None) -> dict:
    app = app or current_app
    components = _Components()
    paths: dict = {}
    schemes: dict = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
    for rule in api_rules(app):
        op = operation_of(app, rule.endpoint)
        if op.auth == "signed":  # a header credential the receiver checks (a signature, a channel token)
            schemes[op.credential] = {"type": "apiKey", "in": "header", "name": op.credential}
        for method in methods_of(rule):
            paths.setdefault(openapi_path(rule.rule), {})[method.lower()] = _operation(app, rule, method, op,
                                                                                       components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Bookwell API", "version": "1.0.0",
                 "description": "Appointment booking. Errors: {error: {code, message, details}}. Generated from "
                                "the endpoints' @operation declarations."},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(components.schemas.items())), "securitySchemes": schemes},
    }


@bp.get("/api/openapi.json")
def spec():
    return jsonify(build_spec())
