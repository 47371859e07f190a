"""Which organization a request belongs to.

Signed-in users belong to exactly one organization. Anonymous visitors of the
patient portal see the organization named by PORTAL_ORGANIZATION (a slug), or
the oldest one when a deployment serves a single clinic.
"""
from __future__ import annotations

from flask import current_app
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import Organization


def portal_organization() -> Organization | None:
    if current_user.is_authenticated:
        return db.session.get(Organization, current_user.organization_id)
    slug = current_app.config.get("PORTAL_ORGANIZATION")
    query = select(Organization)
    query = query.where(Organization.slug == slug) if slug else query.order_by(Organization.created_at)
    return db.session.scalars(query.limit(1)).first()
