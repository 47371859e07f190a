"""Absolute links for messages, from web requests and from background jobs alike.

PUBLIC_URL (e.g. https://book.example.org) is the base when set. Messages are made in
background jobs, so their links come from PUBLIC_URL (or FALLBACK_BASE) only, never from a
request's Host header, which the caller chooses (password-reset link poisoning). Inside a
request, a link shown to that same caller may use the request's own host and prefix.
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
