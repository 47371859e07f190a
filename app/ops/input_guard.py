"""Refuse request shapes that no view should ever see, before any view runs.

- NUL characters in query strings and form fields: PostgreSQL cannot store them and no
  person types one. Pages answer 400; the JSON API answers 422 VALIDATION_ERROR naming
  the parameter (a malformed query value, API.md).
- JSON bodies nested deeper than MAX_JSON_DEPTH: Python's json parser recurses, so a
  2 KB body of a thousand brackets would raise RecursionError (a 500) in whatever view
  parses it. Refused with 400 BAD_REQUEST, on every route, whoever parses the body later.
"""
from __future__ import annotations

import re

from flask import Flask, abort, request

from app.errors import BookwellError, validation_error

MAX_JSON_DEPTH = 64  # the deepest body the API takes is 3 levels (a rule's breaks)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class JsonTooDeep(ValueError):
    pass


def check_json_depth(text: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise JsonTooDeep when arrays and objects nest deeper than `limit`.

    Linear and non-recursive: string literals are cut out first (brackets inside them do
    not count), then the remaining brackets are counted, stopping at the first level too
    deep. Malformed text is left for the JSON parser to refuse.
    """
    depth = 0
    for match in _BRACKETS.finditer(_STRINGS.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                raise JsonTooDeep(f"The JSON body nests deeper than {limit} levels.")
        else:
            depth -= 1


def init_app(app: Flask) -> None:
    @app.before_request
    def _refuse_nul():
        sources = [request.args]
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sources.append(request.form)
        for values in sources:
            for key, value in values.items(multi=True):
                if "\x00" in key or "\x00" in value:
                    if request.path.startswith("/api/") and values is request.args:
                        raise validation_error({key.replace("\x00", "") or "query": "Text must not contain NUL "
                                                                                   "characters."})
                    abort(400)

    @app.before_request
    def _refuse_deep_json():
        if request.is_json and request.content_length != 0:
            try:
                check_json_depth(request.get_data(cache=True, as_text=True))
            except JsonTooDeep as exc:
                raise BookwellError(400, "BAD_REQUEST", str(exc)) from exc
