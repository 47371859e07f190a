"""API errors: one exception type carrying status, stable code and details."""
from __future__ import annotations

from flask import Flask, jsonify, request
from pydantic import ValidationError

from app.errors import BookwellError, not_found, validation_error

__all__ = ["ApiError", "not_found", "validation_error", "from_pydantic", "init_app"]


ApiError = BookwellError  # one error type for services and the API
JSON_PATHS = ("/api/", "/calendar/google/push")  # machine receivers answer errors in JSON too


def from_pydantic(error: ValidationError) -> ApiError:
    fields: dict[str, str] = {}
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "body"
        fields.setdefault(name, item["msg"].removeprefix("Value error, "))
    return validation_error(fields)


def envelope(error: BookwellError):
    """The JSON answer for a service error (also stored by the idempotency layer)."""
    if error.status == 409:
        from app.ops.metrics import CONFLICTS

        CONFLICTS.labels(code=error.code).inc()
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return jsonify(body), error.status


def init_app(app: Flask) -> None:
    @app.errorhandler(BookwellError)
    def _api_error(error: BookwellError):
        if not request.path.startswith(JSON_PATHS):
            from app.web.errors import error_response

            return error_response(error.status, error.message, error.code, error.details)
        return envelope(error)

    @app.errorhandler(ValidationError)
    def _pydantic(error: ValidationError):
        return _api_error(from_pydantic(error))
