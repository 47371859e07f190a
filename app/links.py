"""Absolute links for messages, from web requests and from background jobs alike.

PUBLIC_URL (e.g. https://book.example.org) is the base when set. Messages are made in
background jobs, so their links come from PUBLIC_URL (or FALLBACK_BASE) only, never from a
request's Host header, which the caller chooses (password-reset link poisoning). Inside a
request, a link shown to that same caller may use the request's own host and prefix.

A link for one clinic's patient names that clinic's path prefix (`site_prefix`, from
`tenancy.site_prefix`: `/o/<slug>`, or nothing for the clinic the plain site serves), so a
job's email leads back into the right clinic's pages. The prefix is looked up by the caller:
messages are built on a helper thread that must not touch the database.
"""
from __future__ import annotations

from flask import current_app, has_request_context, request, url_for

FALLBACK_BASE = "http://127.0.0.1:5000"


def external_url(endpoint: str, *, site_prefix: str | None = None, **values) -> str:
    base = (current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    if site_prefix is not None:
        path = site_prefix + current_app.url_map.bind("localhost").build(endpoint, values)
    elif has_request_context():
        path = url_for(endpoint, **values)
    else:
        path = current_app.url_map.bind("localhost").build(endpoint, values)
    if not base:
        base = request.host_url.rstrip("/") if has_request_context() else FALLBACK_BASE
        if has_request_context() and site_prefix is not None:
            base += request.environ.get("SCRIPT_NAME", "").split("/o/", 1)[0].rstrip("/")
    return base + path
