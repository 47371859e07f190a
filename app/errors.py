"""The one error type services raise: an HTTP status, a stable code (docs/api.md) and details.

Pages turn it into a message at the field; the API into the error envelope.
"""
from __future__ import annotations

from typing import Any


class BookwellError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or {}


def validation_error(fields: dict[str, str], message: str = "Some fields are not valid.") -> BookwellError:
    return BookwellError(422, "VALIDATION_ERROR", message, {"fields": fields})


def not_found(what: str = "resource") -> BookwellError:
    return BookwellError(404, "NOT_FOUND", f"No such {what}.")
