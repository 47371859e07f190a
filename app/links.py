"""Absolute links for messages, from web requests and from background jobs alike.

PUBLIC_URL (e.g. https://book.example.org) is the base when set; in a request
without it, the request's own host (and /o/<slug> prefix) is used.
"""
from __future__ import annotations

from flask import current_app, has_request_context, request, url_for

FALLBACK_BASE = "http://127.0.0.1:5000"


def external_url(endpoint: str, **values) -> str:
    base = current_app.config.get("PUBLIC_URL") or ""
    if has_request_context():
        path = url_for(endpoint, **values)
        return (base.rstrip("/") or request.host_url.rstrip("/")) + path
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return (base or FALLBACK_BASE).rstrip("/") + path
