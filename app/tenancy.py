"""Which organization a request belongs to.

Signed-in users belong to exactly one organization. Anonymous visitors see the
organization named by the URL (`/o/<slug>/...`), else by the host name
(PORTAL_HOSTS, e.g. `book.clinic-a.example=clinic-a`), else PORTAL_ORGANIZATION
(a slug), else the oldest one when a deployment serves a single clinic.

The `/o/<slug>` prefix is taken off the path by a small WSGI middleware and put
into SCRIPT_NAME, so every page, API route and socket of the app works under it
unchanged and every link `url_for` makes stays inside the same organization.
"""
from __future__ import annotations

import re
import uuid

from flask import Flask, abort, current_app, g, has_request_context, request
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import Organization

ENVIRON_KEY = "bookwell.organization_slug"
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")
_PREFIX = re.compile(r"^/o/([^/]+)(/.*)?$")


class OrganizationPrefix:
    """WSGI middleware: /o/<slug>/rest -> SCRIPT_NAME .../o/<slug>, PATH_INFO /rest."""

    def __init__(self, wsgi_app, hosts: dict[str, str]):
        self.wsgi_app, self.hosts = wsgi_app, hosts

    def __call__(self, environ, start_response):
        match = _PREFIX.match(environ.get("PATH_INFO", ""))
        if match:
            environ[ENVIRON_KEY] = match.group(1)
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + f"/o/{match.group(1)}"
            environ["PATH_INFO"] = match.group(2) or "/"
        else:
            host = environ.get("HTTP_HOST", "").rsplit(":", 1)[0].lower()
            if host in self.hosts:
                environ[ENVIRON_KEY] = self.hosts[host]
        return self.wsgi_app(environ, start_response)


def parse_hosts(raw: str) -> dict[str, str]:
    pairs = (part.split("=", 1) for part in raw.split(",") if "=" in part)
    return {host.strip().lower(): slug.strip() for host, slug in pairs}


def init_app(app: Flask) -> None:
    app.wsgi_app = OrganizationPrefix(app.wsgi_app, parse_hosts(app.config.get("PORTAL_HOSTS", "")))

    @app.before_request
    def _known_organization():
        if requested_slug() is not None and addressed_organization() is None:
            abort(404)  # /o/<unknown>/...: nothing of any clinic answers there


def requested_slug() -> str | None:
    return request.environ.get(ENVIRON_KEY) if has_request_context() else None


def addressed_organization() -> Organization | None:
    """The organization the URL or host names (None when it names none, or an unknown one)."""
    slug = requested_slug()
    if slug is None or not SLUG.match(slug):
        return None
    if "addressed_organization" not in g:
        g.addressed_organization = db.session.scalars(
            select(Organization).where(Organization.slug == slug)).first()
    return g.addressed_organization


def portal_organization() -> Organization | None:
    """The organization this request acts in, looked up once per request (per signed-in
    user: a sign-in during the request starts a new lookup)."""
    if not has_request_context():
        return _portal_organization()
    who = current_user.get_id() if current_user.is_authenticated else None
    memo = g.get("portal_organization")
    if memo is None or memo[0] != who:
        memo = g.portal_organization = (who, _portal_organization())
    return memo[1]


def portal_selector() -> str:
    """What `portal_organization()` would look the organization up by, without reading it
    (a cache key part: the signed-in user's organization, else the slug addressed or configured)."""
    if current_user.is_authenticated:
        return f"org:{current_user.organization_id}"
    return f"slug:{requested_slug() or current_app.config.get('PORTAL_ORGANIZATION') or ''}"


def _portal_organization() -> Organization | None:
    if current_user.is_authenticated:
        return db.session.get(Organization, current_user.organization_id)
    if requested_slug() is not None:
        return addressed_organization()
    slug = current_app.config.get("PORTAL_ORGANIZATION")
    query = select(Organization)
    query = query.where(Organization.slug == slug) if slug else query.order_by(Organization.created_at)
    return db.session.scalars(query.limit(1)).first()


def site_prefix(organization_id) -> str:
    """The path prefix of an organization's pages: none for the clinic the plain site serves
    (PORTAL_ORGANIZATION, else the oldest), `/o/<slug>` for every other (app/links.py)."""
    org = db.session.get(Organization, uuid.UUID(str(organization_id)))
    if org is None:
        return ""
    configured = current_app.config.get("PORTAL_ORGANIZATION")
    root = configured or db.session.scalar(select(Organization.slug).order_by(Organization.created_at).limit(1))
    return "" if org.slug == root else f"/o/{org.slug}"


def sign_in_scope() -> Organization | None:
    """Where a sign-in, sign-up or reset looks for the account: the addressed organization,
    else (the plain site) every organization."""
    return addressed_organization()


def phone_region(org: Organization | None = None) -> str:
    """Region for phone numbers typed without a country code: the clinic's country."""
    org = org if org is not None else (portal_organization() if has_request_context() else None)
    return (org.country if org is not None and org.country else current_app.config["DEFAULT_PHONE_REGION"]).upper()
