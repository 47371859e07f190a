"""Security headers on every response (docs/security.md).

- Content-Security-Policy: scripts, styles, images, fonts and connections only from
  the app itself (its own static files and the vendored htmx under static/vendor);
  no inline scripts, `<style>` elements, event-handler attributes or eval (style
  attributes are allowed: the agenda grid positions blocks with them); no framing
  (`frame-ancestors 'none'`); forms post only to the app. Templates therefore carry
  no `<script>` bodies, `style=` or `on...=` attributes; behaviour lives in
  static/js/bookwell.js (e.g. `data-confirm` on a form).
- X-Content-Type-Options: nosniff; Referrer-Policy: same-origin; X-Frame-Options: DENY
  for browsers without CSP level 2.
- Cache-Control: no-store on every page and API answer (they carry personal data),
  unless the view chose its own caching; static files keep Flask's caching.
"""
from __future__ import annotations

from flask import Flask, Response, request

POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    # Style attributes only (never <style> elements): the agenda grid places each visit
    # with grid-row/grid-column on the element itself. Values are autoescaped by Jinja.
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self' {websocket}",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'{oauth}",
    "frame-ancestors 'none'",
])


def content_security_policy() -> str:
    # 'self' covers ws(s): to the same host only in newer browsers: name the socket explicitly.
    scheme = "wss" if request.scheme == "https" else "ws"
    return POLICY.format(websocket=f"{scheme}://{request.host}", oauth=_oauth_origin())


def _oauth_origin() -> str:
    """"Connect Google Calendar" posts a form that redirects to Google's consent page: form-action
    must allow that one origin (only when Google is configured)."""
    from urllib.parse import urlsplit

    from flask import current_app

    if not current_app.config.get("GOOGLE_CLIENT_ID"):
        return ""
    parts = urlsplit(current_app.config.get("GOOGLE_AUTH_URL", ""))
    return f" {parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def _harden(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy())
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint != "static" and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(_harden)
