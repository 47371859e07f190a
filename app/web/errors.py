"""Error pages for people, the JSON error envelope (docs/api.md) for programs."""
from __future__ import annotations

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.extensions import db

CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE",
    422: "VALIDATION_ERROR", 429: "RATE_LIMITED", 500: "INTERNAL_ERROR", 503: "UNAVAILABLE",
}

MESSAGES = {
    400: ("Something in that request was not right", "Please go back and try again."),
    403: ("You don't have access to this page", "Your account's role cannot open this page. "
          "If you think it should, ask your clinic's administrator."),
    404: ("We couldn't find that page", "The link may be old, or the page may have moved."),
    405: ("That action isn't available here", "Please use the buttons on the page."),
    413: ("That was too large", "Please send something smaller."),
    429: ("Too many requests", "Please wait a moment and try again."),
    500: ("Something went wrong on our side", "We have logged the problem. Please try again in a moment."),
}


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, message: str | None = None, code: str | None = None, details: dict | None = None):
    code = code or CODES.get(status, "ERROR")
    title, text = MESSAGES.get(status, MESSAGES[400] if status < 500 else MESSAGES[500])
    if wants_json():
        body = {"error": {"code": code, "message": message or title, "details": details or {}}}
        return make_response(jsonify(body), status)
    page = render_template("errors/error.html", status=status, title=title, text=message or text)
    return make_response(page, status)


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error):
        return error_response(400, "This form was sent without a valid security token. "
                                   "Reload the page and try again.", code="CSRF_FAILED")

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if error.code == 429:
            from app.ops.rate_limits import retry_after_seconds

            retry = retry_after_seconds() or 60
            wait = f"{retry} seconds" if retry < 120 else f"{(retry + 59) // 60} minutes"
            response = error_response(429, f"Too many attempts from here. Please wait {wait} and try again.")
            response.headers["Retry-After"] = str(retry)
            return response
        response = error_response(error.code or 500)
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)  # RFC 9110: a 405 lists what is allowed
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return _http(error)
        db.session.rollback()
        app.logger.exception("unhandled error")
        return error_response(500)
