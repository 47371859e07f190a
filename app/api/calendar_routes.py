"""External calendars in the JSON API (docs/api.md "External calendars"): connections and the
provider's feed for admins and managers, the signed webhook receiver and Google's push receiver."""
from __future__ import annotations

from typing import Annotated, Literal

from flask import request
from pydantic import Field

from app import roles
from app.api import admin_v1, api_v1
from app.api.auth import api_user
from app.api.contract import operation
from app.api.fields import Id
from app.api.responses import Out
from app.api.schemas import Body, Query
from app.calendars import connections, feed_export, push, webhooks
from app.calendars import writeback as _writeback  # noqa: F401 - registers the write-back planning hook
from app.calendars.feed_routes import google_redirect_uri
from app.errors import not_found
from app.extensions import db
from app.links import external_url
from app.models import Provider
from app.queries.admin import owned

MANAGERS = roles.SETUP


class ConnectionCreate(Body):
    provider_id: Id
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


class ConnectionsQuery(Query):
    provider_id: Id | None = None


class CalendarOut(Out):
    id: str
    name: str
    blocks_time: bool
    is_destination: bool


class ConnectionOut(Out):
    id: str
    provider_id: str
    kind: Literal["caldav", "ics", "webhook", "google"]
    display_name: str
    status: Literal["pending", "ok", "error", "reauth_required"]
    last_synced_at: str | None
    last_error: str | None
    next_sync_at: str | None
    consecutive_failures: int
    busy_count: int
    health: str
    calendars: list[CalendarOut]


class NewConnectionOut(ConnectionOut):
    """A webhook connection's secret is answered once, at creation."""

    webhook_secret: str | None
    webhook_url: str | None
    authorize_url: str | None  # kind google: send the person there to allow access


class ConnectionList(Out):
    connections: list[ConnectionOut]


class FeedOut(Out):
    url: str


class WebhookAnswer(Out):
    applied: int


class PushAnswer(Out):
    """Whether a sync of the channel's connection was queued (false: handshake, stopped channel)."""

    queued: bool


class WebhookReplay(Out):
    """A delivery_id seen before: nothing applied."""

    applied: Literal[0]
    duplicate: Literal[True]


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
@operation("External calendar connections with their health", query=ConnectionsQuery, response=ConnectionList,
           roles=MANAGERS, errors=[404])
def list_calendar_connections(query: ConnectionsQuery):
    if query.provider_id is not None and owned(Provider, _org_id(), query.provider_id) is None:
        raise not_found("provider")
    rows = connections.list_connections(_org_id(), query.provider_id)
    return {"connections": [connections.connection_out(c) for c in rows]}


@admin_v1.post("/calendar-connections")
@operation("Connect an external calendar (a webhook's secret is answered once; google answers the "
           "authorize_url to send the person to)", body=ConnectionCreate,
           response=NewConnectionOut, status=201, roles=MANAGERS, errors=[404])
def create_calendar_connection(body: ConnectionCreate):
    created = connections.create_connection(
        _org_id(), body.provider_id, body.kind, url=body.url, username=body.username,
        password=body.password, display_name=body.display_name, redirect_uri=google_redirect_uri())
    answer = {**connections.connection_out(created.connection), "webhook_secret": None, "webhook_url": None,
              "authorize_url": created.authorize_url}
    if created.webhook_secret is not None:
        answer["webhook_secret"] = created.webhook_secret
        answer["webhook_url"] = external_url("api_v1.calendar_webhook", connection_id=created.connection.id)
    return answer


@admin_v1.get("/calendar-connections/<uuid:connection_id>")
@operation("One connection: health and calendars", response=ConnectionOut, roles=MANAGERS)
def get_calendar_connection(connection_id):
    return connections.connection_out(connections.get_connection(_org_id(), connection_id))


@admin_v1.patch("/calendar-connections/<uuid:connection_id>")
@operation("Choose which calendars block time and the destination", body=CalendarsPatch, response=ConnectionOut,
           roles=MANAGERS)
def update_calendar_connection(connection_id, body: CalendarsPatch):
    choices = [{"id": _uuid(c.id, f"calendars.{i}.id"), **c.model_dump(exclude={"id"}, exclude_none=True)}
               for i, c in enumerate(body.calendars)]
    connection = connections.update_calendars(_org_id(), connection_id, choices)
    return connections.connection_out(connection)


@admin_v1.post("/calendar-connections/<uuid:connection_id>/sync")
@operation("Queue a sync at once", response=ConnectionOut, status=202, roles=MANAGERS)
def sync_calendar_connection(connection_id):
    return connections.connection_out(connections.request_sync(_org_id(), connection_id))


@admin_v1.delete("/calendar-connections/<uuid:connection_id>")
@operation("Disconnect: credentials and busy times are removed", status=204, roles=MANAGERS)
def delete_calendar_connection(connection_id):
    connections.delete_connection(_org_id(), connection_id)
    return None


def feed_url(token: str) -> str:
    return external_url("calendar_feed.feed", token=token)


@admin_v1.get("/providers/<uuid:provider_id>/feed")
@operation("The provider's private ICS feed URL", response=FeedOut, roles=MANAGERS)
def provider_feed(provider_id):
    return {"url": feed_url(feed_export.feed_token(_org_id(), provider_id))}


@admin_v1.post("/providers/<uuid:provider_id>/feed/rotate")
@operation("A new feed URL; the old one answers 404", response=FeedOut, roles=MANAGERS)
def rotate_provider_feed(provider_id):
    return {"url": feed_url(feed_export.rotate(_org_id(), provider_id))}


def _signed_delivery(connection_id):
    return webhooks.authenticate(connection_id, request.headers.get(webhooks.HEADER), request.get_data(cache=True))


@api_v1.post("/calendar/webhooks/<uuid:connection_id>")
@operation("Signed external calendar change notice (header X-Bookwell-Signature: t=<unix seconds>,v1=<hex "
           "HMAC-SHA256(secret, \"<t>.<raw body>\")>; deduplicated by delivery_id)", response=WebhookAnswer | WebhookReplay,
           auth="signed", authenticate=_signed_delivery, credential=webhooks.HEADER, idempotent=False,
           errors=[422],
           description="Body: {delivery_id, events: [...]} as in docs/api.md. The signature is checked on the raw "
                       "body before anything else (missing or bad: 401 whatever the body); then a body that is not "
                       "JSON is 400 and bad fields 422; a delivery_id seen before is a no-op 200.")
def calendar_webhook(connection_id, caller):
    return webhooks.ingest(caller, request.get_data(cache=True))


def _google_channel():
    return push.authenticate(request.headers.get(push.CHANNEL_HEADER), request.headers.get(push.TOKEN_HEADER))


@api_v1.post("/calendar/google/push")
@operation("Google Calendar push notice (events.watch channel): queues a sync of the channel's connection",
           response=PushAnswer, auth="signed", authenticate=_google_channel, credential=push.TOKEN_HEADER,
           idempotent=False,
           description="Google's headers: X-Goog-Channel-ID and X-Goog-Channel-Token (both required: 400 without; "
                       "an unknown channel or a wrong token is 401), X-Goog-Resource-State (`sync`: the handshake, "
                       "nothing queued; `exists`/`not_exists`: a sync of the connection is queued once), "
                       "X-Goog-Resource-ID (a notice naming another resource than the channel watches is "
                       "answered and ignored), X-Goog-Message-Number (not needed: a notice only queues a sync). "
                       "A stopped or expired channel is answered and ignored. The body is never used. The address is "
                       "GOOGLE_PUSH_URL (docs/calendars.md).")
def google_push(caller):
    return push.receive(caller, request.headers.get(push.STATE_HEADER), request.headers.get(push.RESOURCE_HEADER))
