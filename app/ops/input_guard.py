"""Refuse request shapes that no view should ever see, before any view runs.

- NUL characters in query strings and form fields: PostgreSQL cannot store them and no
  person types one. Pages answer 400; the JSON API answers 422 VALIDATION_ERROR naming
  the parameter (a malformed query value, docs/api.md).
- JSON bodies nested deeper than MAX_JSON_DEPTH: Python's json parser recurses, so a
  2 KB body of a thousand brackets would raise RecursionError (a 500) in whatever view
  parses it. Refused with 400 BAD_REQUEST, on every route, whoever parses the body later.
"""
from __future__ import annotations

import re
from itertools import accumulate

from flask import Flask, abort, current_app, request

from app.errors import BookwellError, validation_error

MAX_JSON_DEPTH = 64  # the deepest body the API takes is 3 levels (a rule's breaks)
_ESCAPES = re.compile(r"\\.", re.DOTALL)  # \" and \\ inside strings (outside them JSON is malformed anyway)
_STRINGS = re.compile(r'"[^"]*"')  # once escapes are gone a string has no quote inside: linear
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonTooDeep(ValueError):
    pass


def check_json_depth(text: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise JsonTooDeep when arrays and objects nest deeper than `limit`.

    Linear and non-recursive, in C-speed steps: a body with at most `limit` opening
    brackets is fine as it is; otherwise escapes, then string literals, then everything
    but brackets are cut out and the running depth is summed. Malformed text is left for
    the JSON parser to refuse.
    """
    if text.count("[") + text.count("{") <= limit:
        return
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", _ESCAPES.sub("", text)))
    if brackets and max(accumulate(map(_DELTA.__getitem__, brackets))) > limit:
        raise JsonTooDeep(f"The JSON body nests deeper than {limit} levels.")


def _signed_endpoint() -> bool:
    """A signed receiver (calendar webhook, Google push) checks its signature before anything
    reads the body (401 whatever the body); its body then passes the same depth check in
    `contract.read_json`."""
    from app.api.contract import declaration

    op = declaration(current_app.view_functions.get(request.endpoint or ""))
    return op is not None and op.auth == "signed"


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
        if request.is_json and request.content_length != 0 and not _signed_endpoint():
            try:
                check_json_depth(request.get_data(cache=True, as_text=True))
            except JsonTooDeep as exc:
                raise BookwellError(400, "BAD_REQUEST", str(exc)) from exc
