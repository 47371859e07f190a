"""Connection use cases: connect, choose calendars, sync now, disconnect, and their health view."""
from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from flask import current_app
from sqlalchemy import select

from app.calendars import health, store
from app.database import after_commit, write_transaction
from app.errors import BookwellError, not_found, validation_error
from app.extensions import db
from app.models import CalendarConnection, CalendarSource, Provider, new_id, utcnow

KINDS = ("caldav", "ics", "webhook", "google")


@dataclass
class Created:
    connection: CalendarConnection
    webhook_secret: str | None = None
    authorize_url: str | None = None
    oauth_state: str | None = None


def normalize_url(raw: str | None, field: str = "url") -> str:
    """http(s) only (webcal:// is https); no credentials in the URL."""
    raw = (raw or "").strip()
    if raw.lower().startswith("webcal://"):
        raw = "https://" + raw[len("webcal://"):]
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(raw) > 2000:
        raise validation_error({field: "Give an http:// or https:// address."})
    if parts.username or parts.password:
        raise validation_error({field: "Put the user name and password in their own fields, not in the address."})
    return urlunsplit(parts)


def _provider(org_id: uuid.UUID, provider_id: uuid.UUID) -> Provider:
    provider = db.session.get(Provider, provider_id)
    if provider is None or provider.organization_id != org_id:
        raise not_found("provider")
    return provider


def get_connection(org_id: uuid.UUID, connection_id: uuid.UUID, provider_id: uuid.UUID | None = None
                   ) -> CalendarConnection:
    connection = db.session.get(CalendarConnection, connection_id)
    if connection is None or connection.organization_id != org_id or (
            provider_id is not None and connection.provider_id != provider_id):
        raise not_found("calendar connection")
    return connection


def list_connections(org_id: uuid.UUID, provider_id: uuid.UUID | None = None) -> list[CalendarConnection]:
    query = select(CalendarConnection).where(CalendarConnection.organization_id == org_id)
    if provider_id is not None:
        query = query.where(CalendarConnection.provider_id == provider_id)
    return list(db.session.scalars(query.order_by(CalendarConnection.created_at, CalendarConnection.id)))


def create_connection(org_id: uuid.UUID, provider_id: uuid.UUID, kind: str, *, url: str | None = None,
                      username: str | None = None, password: str | None = None,
                      display_name: str | None = None, redirect_uri: str | None = None) -> Created:
    """Connect a calendar; a first sync is queued at once. A webhook's secret is returned once.
    Google answers the consent URL to send the person to; the callback (`finish_google`) completes it."""
    if kind == "google":
        return _start_google(org_id, provider_id, display_name, redirect_uri or "")
    if kind not in KINDS:
        raise validation_error({"kind": f"Use one of {', '.join(KINDS)}."})
    fields: dict[str, str] = {}
    if kind in ("caldav", "ics"):
        url = normalize_url(url)
    if kind == "caldav":
        if not (username or "").strip():
            fields["username"] = "Give the user name of the calendar account."
        if not password:
            fields["password"] = "Give the (app) password of the calendar account."
    if fields:
        raise validation_error(fields)
    secret = secrets.token_urlsafe(32) if kind == "webhook" else None
    now = utcnow()
    with write_transaction():
        _provider(org_id, provider_id)
        default_name = {"caldav": urlsplit(url or "").hostname, "ics": urlsplit(url or "").hostname,
                        "webhook": "Webhook"}.get(kind) or kind
        connection = CalendarConnection(
            id=new_id(), organization_id=org_id, provider_id=provider_id, kind=kind,
            display_name=(display_name or default_name)[:200], url=url if kind in ("caldav", "ics") else None,
            credentials=json.dumps({"username": username.strip(), "password": password})
            if kind == "caldav" else None,
            webhook_secret=secret, status="pending", full_sync_due=True, consecutive_failures=0,
            sync_requested_at=now if kind != "webhook" else None, next_sync_at=now if kind != "webhook" else None)
        db.session.add(connection)
        if kind in ("ics", "webhook"):
            connection.sources.append(CalendarSource(
                id=new_id(), organization_id=org_id, external_id="feed" if kind == "ics" else "webhook",
                name="Feed" if kind == "ics" else "Webhook events", blocks_time=True, is_destination=False))
        if kind == "webhook":
            connection.status = "ok"
        if kind != "webhook":
            _queue_after_commit(connection.id)
    return Created(connection, secret)


def google_enabled() -> bool:
    return bool(current_app.config.get("GOOGLE_CLIENT_ID"))


def _start_google(org_id: uuid.UUID, provider_id: uuid.UUID, display_name: str | None, redirect_uri: str) -> Created:
    """A pending connection holding (encrypted) the OAuth state and PKCE verifier; nothing syncs until
    the callback stores the tokens."""
    from app.calendars import google

    if not google_enabled():
        raise validation_error({"kind": "Google Calendar is not set up on this server (GOOGLE_CLIENT_ID)."})
    with write_transaction():
        _provider(org_id, provider_id)
        connection_id = new_id()
        url, state, verifier = google.authorization_request(current_app.config, redirect_uri, connection_id)
        connection = CalendarConnection(
            id=connection_id, organization_id=org_id, provider_id=provider_id, kind="google",
            display_name=(display_name or "Google Calendar")[:200],
            credentials=json.dumps({"oauth_state": state, "code_verifier": verifier, "redirect_uri": redirect_uri}),
            status="pending", full_sync_due=True, consecutive_failures=0, sync_requested_at=None, next_sync_at=None)
        db.session.add(connection)
    return Created(connection, authorize_url=url, oauth_state=state)


def finish_google(state: str, code: str | None, error: str | None, session_state: str | None = None
                  ) -> CalendarConnection:
    """The OAuth callback: check `state` (the connection's, and the session's when a page started the
    flow), exchange the code with the PKCE verifier, store the tokens encrypted, queue the first sync."""
    import hmac

    from app.calendars import google
    from app.calendars.ports import CalendarAuthError, CalendarSyncError

    refused = BookwellError(400, "INVALID_STATE", "This Google sign-in is not the one Bookwell started; "
                                                  "start connecting again.")
    try:
        connection_id = uuid.UUID(hex=(state or "").split(".", 1)[0])
    except ValueError as exc:
        raise refused from exc
    connection = db.session.get(CalendarConnection, connection_id)
    pending = json.loads(connection.credentials) if connection is not None and connection.credentials else {}
    expected = pending.get("oauth_state") or ""
    if not expected or not hmac.compare_digest(expected.encode(), state.encode()) or (
            session_state is not None and not hmac.compare_digest(session_state.encode(), state.encode())):
        raise refused
    if error or not code:
        raise BookwellError(400, "CONSENT_REFUSED", "Google Calendar was not connected: access was not allowed.")
    db.session.rollback()
    try:
        tokens = google.exchange_code(current_app.config, code, pending["code_verifier"], pending["redirect_uri"])
    except (CalendarAuthError, CalendarSyncError) as exc:
        raise BookwellError(502, "UPSTREAM_REFUSED", str(exc)) from exc
    with write_transaction():
        connection = db.session.get(CalendarConnection, connection_id)
        if connection is None:
            raise not_found("calendar connection")
        connection.credentials = json.dumps(tokens)
        connection.status, connection.consecutive_failures, connection.full_sync_due = "pending", 0, True
        _request_sync(connection)
    return connection


def update_calendars(org_id: uuid.UUID, connection_id: uuid.UUID, choices: list[dict],
                     provider_id: uuid.UUID | None = None) -> CalendarConnection:
    """Choose which calendars block time and which one (at most) receives bookings."""
    with write_transaction():
        connection = get_connection(org_id, connection_id, provider_id)
        sources = {str(s.id): s for s in connection.sources}
        wanted: dict[str, dict] = {}
        for index, choice in enumerate(choices):
            key = str(choice["id"])
            if key not in sources:
                raise validation_error({f"calendars.{index}.id": "Not a calendar of this connection."})
            wanted[key] = choice
        destination = {k for k, s in sources.items()
                       if wanted.get(k, {}).get("is_destination", s.is_destination)}
        if len(destination) > 1:
            raise validation_error({"calendars": "Choose at most one calendar for new bookings."})
        if destination and connection.kind not in ("caldav", "google"):
            raise validation_error({"calendars": "Only CalDAV and Google calendars receive bookings."})
        resync = stop_push = False
        for index, (key, choice) in enumerate(wanted.items()):
            source = sources[key]
            if connection.kind == "webhook" and choice.get("blocks_time") is False and source.blocks_time:
                # its busy times would be deleted, and nothing can read them again: the sender
                # never repeats a delivery, so switching back on would offer busy time
                raise validation_error({f"calendars.{index}.blocks_time": (
                    "A webhook calendar cannot be read again once its busy times are dropped; "
                    "stop the sender or disconnect it instead.")})
            if choice.get("blocks_time") is not None and choice["blocks_time"] != source.blocks_time:
                source.blocks_time = choice["blocks_time"]
                if source.blocks_time:
                    source.sync_token, source.ctag, source.etags = None, None, None
                    resync = True
                else:
                    store.clear_source(connection, source.id)
                    stop_push = connection.kind == "google"
            if choice.get("is_destination") is not None:
                source.is_destination = choice["is_destination"]
        connection.push_bookings = bool(destination)
        if destination:
            from app.calendars.writeback import plan_existing_bookings

            plan_existing_bookings(connection)
        if resync:
            connection.full_sync_due = True
        if resync or stop_push:  # the sync opens channels for new calendars and stops those no longer read
            _request_sync(connection)
    return connection


def request_sync(org_id: uuid.UUID, connection_id: uuid.UUID, provider_id: uuid.UUID | None = None
                 ) -> CalendarConnection:
    """"Sync now": due at once (re-authorised connections try again too)."""
    with write_transaction():
        connection = get_connection(org_id, connection_id, provider_id)
        if connection.kind == "webhook":
            raise BookwellError(409, "INVALID_TRANSITION", "A webhook connection is pushed to; there is nothing to poll.")
        if connection.status == "reauth_required":
            connection.status = "pending"
        connection.consecutive_failures = 0
        _request_sync(connection)
    return connection


def _request_sync(connection: CalendarConnection) -> None:
    now = utcnow()
    connection.sync_requested_at = connection.next_sync_at = now
    _queue_after_commit(connection.id)


def _queue_after_commit(connection_id: uuid.UUID) -> None:
    def queue() -> None:
        from app.calendars.jobs import enqueue_sync

        try:
            enqueue_sync(connection_id)
        except Exception:  # noqa: BLE001 - Redis down: the every-minute sweep queues it
            current_app.logger.warning("calendar sync not queued now; the sweep will")

    after_commit(f"calendar-sync-{connection_id}", queue)


def delete_connection(org_id: uuid.UUID, connection_id: uuid.UUID, provider_id: uuid.UUID | None = None) -> None:
    """Disconnect: the credentials and every busy time the connection brought are gone. Google's
    push channels are stopped first (outside any transaction); a stop that fails is logged and
    does not hold the disconnect up."""
    connection = get_connection(org_id, connection_id, provider_id)
    if connection.kind == "google":
        from app.calendars import push

        db.session.rollback()
        push.stop_all(connection_id)
    with write_transaction():
        connection = get_connection(org_id, connection_id, provider_id)
        store.clear_connection(connection)
        db.session.flush()
        db.session.delete(connection)


def connection_out(connection: CalendarConnection, now: datetime | None = None) -> dict:
    """The API shape (docs/api.md) plus the badge the pages show."""
    now = now or utcnow()
    from app.calendars.sync import poll_interval_of

    interval = poll_interval_of(connection, now)
    colour = health.badge(kind=connection.kind, status=connection.status,
                          consecutive_failures=connection.consecutive_failures,
                          last_success=connection.last_synced_at, interval=interval, now=now)
    stamp = lambda value: value.isoformat().replace("+00:00", "Z") if value else None  # noqa: E731
    return {
        "id": str(connection.id), "provider_id": str(connection.provider_id), "kind": connection.kind,
        "display_name": connection.display_name, "status": connection.status,
        "last_synced_at": stamp(connection.last_synced_at), "last_error": connection.last_error,
        "next_sync_at": stamp(connection.next_sync_at) if connection.kind != "webhook" else None,
        "consecutive_failures": connection.consecutive_failures,
        "busy_count": store.busy_count(connection.id), "health": colour,
        "calendars": [{"id": str(s.id), "name": s.name, "blocks_time": s.blocks_time,
                       "is_destination": s.is_destination} for s in connection.sources],
    }


def connection_view(connection: CalendarConnection, now: datetime | None = None) -> dict:
    """connection_out plus the instants as datetimes, for pages that show them in local time."""
    out = connection_out(connection, now)
    out["last_synced_at_dt"] = connection.last_synced_at
    out["next_sync_at_dt"] = connection.next_sync_at if connection.kind != "webhook" else None
    return out
