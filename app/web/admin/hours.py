"""Managers edit a provider's weekly hours with the provider's own editor
(app/web/provider/hours.py), rendered for the provider chosen here."""
from __future__ import annotations

from flask import abort, g
from flask_login import current_user

from app.models import Provider
from app.queries import admin as queries
from app.web.admin import bp
from app.web.provider import hours as editor


def _for(provider_id) -> None:
    provider = queries.owned(Provider, current_user.organization_id, provider_id)
    if provider is None:
        abort(404)
    g.hours_provider = provider
    g.hours_endpoints = {"page": "admin.provider_hours", "preview": "admin.provider_hours_preview",
                         "args": {"provider_id": provider.id}}


@bp.get("/providers/<uuid:provider_id>/hours")
def provider_hours(provider_id):
    _for(provider_id)
    return editor.hours()


@bp.post("/providers/<uuid:provider_id>/hours")
def save_provider_hours(provider_id):
    _for(provider_id)
    return editor.save_hours()


@bp.post("/providers/<uuid:provider_id>/hours/preview")
def provider_hours_preview(provider_id):
    _for(provider_id)
    return editor.hours_preview()
