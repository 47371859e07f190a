"""External calendars in the JSON API (API.md "External calendars"): connections and the
provider's feed for admins and managers, and the signed webhook receiver."""
from __future__ import annotations

from typing import Annotated, Literal

from flask import current_app, jsonify, request, url_for
from pydantic import Field

from app.api import admin_v1, api_v1
from app.api.auth import api_user, require_roles
from app.api.idempotency import idempotent
from app.api.params import json_body, uuid_arg
from app.api.schemas import Body
from app.calendars import connections, feed_export, webhooks
from app.calendars import writeback as _writeback  # noqa: F401 - registers the write-back planning hook
from app.extensions import db

MANAGERS = ("admin", "manager")


class ConnectionCreate(Body):
    provider_id: Annotated[str, Field(min_length=1)]
    kind: Literal["caldav", "ics", "webhook", "google"]
    url: Annotated[str, Field(max_length=2000)] | None = None
    username: Annotated[str, Field(max_length=320)] | None = None
    password: Annotated[str, Field(max_length=1000)] | None = None
    display_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class CalendarChoice(Body):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    blocks_time: bool | None = None
    is_destination: bool | None = None


class CalendarsPatch(Body):
    calendars: Annotated[list[CalendarChoice], Field(max_length=200)]


def _org_id():
    return api_user().organization_id


def _uuid(value: str, field: str):
    import uuid

    from app.errors import validation_error

    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise validation_error({field: "Not a valid id."}) from exc


@admin_v1.get("/calendar-connections")
@require_roles(*MANAGERS)
def list_calendar_connections():
    rows = connections.list_connections(_org_id(), uuid_arg("provider_id"))
    return jsonify({"connections": [connections.connection_out(c) for c in rows]})


@admin_v1.post("/calendar-connections")
@require_roles(*MANAGERS)
@idempotent
def create_calendar_connection():
    body = ConnectionCreate.model_validate(json_body())
    created = connections.create_connection(
        _org_id(), _uuid(body.provider_id, "provider_id"), body.kind, url=body.url, username=body.username,
        password=body.password, display_name=body.display_name)
    answer = connections.connection_out(created.connection)
    if created.webhook_secret is not None:
        answer["webhook_secret"] = created.webhook_secret
        answer["webhook_url"] = url_for("api_v1.calendar_webhook", connection_id=created.connection.id,
                                        _external=True)
    return jsonify(answer), 201


@admin_v1.get("/calendar-connections/<uuid:connection_id>")
@require_roles(*MANAGERS)
def get_calendar_connection(connection_id):
    return jsonify(connections.connection_out(connections.get_connection(_org_id(), connection_id)))


@admin_v1.patch("/calendar-connections/<uuid:connection_id>")
@require_roles(*MANAGERS)
@idempotent
def update_calendar_connection(connection_id):
    body = CalendarsPatch.model_validate(json_body())
    choices = [{"id": _uuid(c.id, f"calendars.{i}.id"), **c.model_dump(exclude={"id"}, exclude_none=True)}
               for i, c in enumerate(body.calendars)]
    connection = connections.update_calendars(_org_id(), connection_id, choices)
    return jsonify(connections.connection_out(connection))


@admin_v1.post("/calendar-connections/<uuid:connection_id>/sync")
@require_roles(*MANAGERS)
@idempotent
def sync_calendar_connection(connection_id):
    connection = connections.request_sync(_org_id(), connection_id)
    return jsonify(connections.connection_out(connection)), 202


@admin_v1.delete("/calendar-connections/<uuid:connection_id>")
@require_roles(*MANAGERS)
@idempotent
def delete_calendar_connection(connection_id):
    connections.delete_connection(_org_id(), connection_id)
    return current_app.response_class(status=204)


def feed_url(token: str) -> str:
    return url_for("calendar_feed.feed", token=token, _external=True)


@admin_v1.get("/providers/<uuid:provider_id>/feed")
@require_roles(*MANAGERS)
def provider_feed(provider_id):
    token = feed_export.feed_token(_org_id(), provider_id)
    return jsonify({"url": feed_url(token)})


@admin_v1.post("/providers/<uuid:provider_id>/feed/rotate")
@require_roles(*MANAGERS)
@idempotent
def rotate_provider_feed(provider_id):
    return jsonify({"url": feed_url(feed_export.rotate(_org_id(), provider_id))})


@api_v1.post("/calendar/webhooks/<uuid:connection_id>")
def calendar_webhook(connection_id):
    answer = webhooks.ingest(connection_id, request.headers.get(webhooks.HEADER), request.get_data(cache=False))
    return jsonify(answer), 200


# OpenAPI (app/api/openapi.py): endpoint -> (summary, auth, query, body model, success, errors)
OPENAPI_DOCS = {
    "admin_v1.list_calendar_connections": ("External calendar connections with their health", "bearer",
                                           ["provider_id"], None, 200, [401, 403, 422]),
    "admin_v1.create_calendar_connection": ("Connect an external calendar (a webhook's secret is answered once)",
                                            "bearer", [], ConnectionCreate, 201, [400, 401, 403, 404, 409, 422]),
    "admin_v1.get_calendar_connection": ("One connection: health and calendars", "bearer", [], None, 200,
                                         [401, 403, 404]),
    "admin_v1.update_calendar_connection": ("Choose which calendars block time and the destination", "bearer", [],
                                            CalendarsPatch, 200, [400, 401, 403, 404, 409, 422]),
    "admin_v1.sync_calendar_connection": ("Queue a sync at once", "bearer", [], None, 202,
                                          [400, 401, 403, 404, 409]),
    "admin_v1.delete_calendar_connection": ("Disconnect: credentials and busy times are removed", "bearer", [], None,
                                            204, [400, 401, 403, 404, 409]),
    "admin_v1.provider_feed": ("The provider's private ICS feed URL", "bearer", [], None, 200, [401, 403, 404]),
    "admin_v1.rotate_provider_feed": ("A new feed URL; the old one answers 404", "bearer", [], None, 200,
                                      [400, 401, 403, 404, 409]),
    "api_v1.calendar_webhook": ("Signed external calendar change notice (X-Bookwell-Signature)", "signature", [],
                                webhooks.WebhookBody, 200, [401, 413, 422]),
}
