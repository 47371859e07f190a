"""Refuse NUL characters in query strings and form fields with a 400 before any view
runs: PostgreSQL cannot store them, and no person types one."""
from __future__ import annotations

from flask import Flask, abort, request


def init_app(app: Flask) -> None:
    @app.before_request
    def _refuse_nul():
        sources = [request.args]
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sources.append(request.form)
        for values in sources:
            for key, value in values.items(multi=True):
                if "\x00" in key or "\x00" in value:
                    abort(400)
