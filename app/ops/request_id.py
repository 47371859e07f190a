"""X-Request-Id on every response: taken from the client when sane, else generated."""
from __future__ import annotations

import re
import uuid

from flask import Flask, g, request

_SAFE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HEADER = "X-Request-Id"


def current() -> str | None:
    return g.get("request_id")


def init_app(app: Flask) -> None:
    @app.before_request
    def _assign():
        incoming = request.headers.get(HEADER, "")
        g.request_id = incoming if _SAFE.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def _echo(response):
        response.headers[HEADER] = g.get("request_id") or uuid.uuid4().hex
        return response
