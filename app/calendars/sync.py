"""Run one sync of one connection: lease, fetch (outside any transaction), store, health.

The lease is a conditional UPDATE on the connection row, so two workers never
sync one connection at once on either database. An authorization failure sets
`reauth_required`, stops retries and e-mails the provider; other failures back
off exponentially up to an hour.
"""
from __future__ import annotations

import json
import logging
import os
import random
import socket
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import or_, select, update

from app.calendars import health, store
from app.calendars.ports import CalendarAuthError, CalendarPort, CalendarSyncError, ConnectionConfig, SourceConfig
from app.database import write_transaction
from app.extensions import db
from app.models import CalendarConnection, CalendarEventLink, Provider, User, utcnow

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def port_for(kind: str) -> CalendarPort:
    config = current_app.config
    if kind == "ics":
        from app.calendars.ics_feed import IcsFeedPort

        return IcsFeedPort(allow_private=config["CALENDAR_ALLOW_PRIVATE_URLS"],
                           timeout=config["CALENDAR_FETCH_TIMEOUT_SECONDS"], max_bytes=config["CALENDAR_MAX_FEED_BYTES"])
    if kind == "caldav":
        from app.calendars.caldav_sync import CalDavPort

        return CalDavPort(allow_private=config["CALENDAR_ALLOW_PRIVATE_URLS"],
                          timeout=config["CALENDAR_FETCH_TIMEOUT_SECONDS"])
    if kind == "google":
        from app.calendars.google import GooglePort

        return GooglePort(config, save_google_credentials)
    raise CalendarSyncError(f"Connections of kind {kind} are not polled.")


def save_google_credentials(connection_id: str, credentials: dict) -> None:
    """Refreshed OAuth tokens, stored (encrypted) at once: a refresh token is never lost."""
    with write_transaction():
        connection = db.session.get(CalendarConnection, uuid.UUID(connection_id))
        if connection is not None:
            stored = json.loads(connection.credentials) if connection.credentials else {}
            connection.credentials = json.dumps({**stored, **credentials})


def claim(connection_id: uuid.UUID, owner: str, now: datetime | None = None) -> bool:
    """Take the connection's lease (free, expired, or already ours); False when another worker holds it."""
    now = now or utcnow()
    with write_transaction():
        result = db.session.execute(
            update(CalendarConnection)
            .where(CalendarConnection.id == connection_id,
                   or_(CalendarConnection.lease_until.is_(None), CalendarConnection.lease_until < now,
                       CalendarConnection.lease_owner == owner))
            .values(lease_owner=owner,
                    lease_until=now + timedelta(seconds=current_app.config.get("CALENDAR_LEASE_SECONDS", 300))),
            execution_options={"synchronize_session": False})
    return result.rowcount == 1


def release(connection_id: uuid.UUID, owner: str) -> None:
    with write_transaction():
        db.session.execute(update(CalendarConnection).where(
            CalendarConnection.id == connection_id, CalendarConnection.lease_owner == owner)
            .values(lease_owner=None, lease_until=None), execution_options={"synchronize_session": False})


def build_config(connection: CalendarConnection, *, full: bool, now: datetime | None = None) -> ConnectionConfig:
    now = now or utcnow()
    provider = db.session.get(Provider, connection.provider_id)
    horizon = timedelta(days=max(current_app.config["CALENDAR_HORIZON_DAYS"], current_app.config["HORIZON_DAYS"]))
    credentials = json.loads(connection.credentials) if connection.credentials else {}
    own = frozenset(db.session.scalars(
        select(CalendarEventLink.external_uid).join(CalendarConnection,
                                                    CalendarConnection.id == CalendarEventLink.connection_id)
        .where(CalendarConnection.provider_id == connection.provider_id)))
    addresses = {credentials.get("username", "")} | {
        u.email for u in db.session.scalars(select(User).where(User.provider_id == connection.provider_id))}
    return ConnectionConfig(
        id=str(connection.id), kind=connection.kind, zone=ZoneInfo(provider.timezone), url=connection.url,
        username=credentials.get("username"), password=credentials.get("password"),
        cursor=json.loads(connection.sync_cursor) if connection.sync_cursor else {},
        sources=tuple(SourceConfig(id=str(s.id), external_id=s.external_id, name=s.name, blocks_time=s.blocks_time,
                                   is_destination=s.is_destination, sync_token=s.sync_token, ctag=s.ctag,
                                   etags=json.loads(s.etags) if s.etags else {})
                      for s in connection.sources),
        window_start=now - timedelta(days=1), window_end=now + horizon, full=full or connection.full_sync_due,
        own_uids=own, self_addresses=frozenset(a.lower() for a in addresses if a and "@" in a),
        credentials=credentials if connection.kind == "google" else {})


def sync_connection(connection_id: uuid.UUID, *, owner: str | None = None, full: bool = False) -> str:
    """One sync; returns a word for the job log. Safe to run twice (the lease and the upserts)."""
    owner = owner or worker_id()
    connection = db.session.get(CalendarConnection, connection_id)
    if connection is None:
        return "gone"
    if connection.kind not in ("ics", "caldav", "google"):
        return "not polled"
    if connection.status == "reauth_required":
        return "waiting for the provider to reconnect"
    db.session.rollback()
    if not claim(connection_id, owner):
        return "another worker is syncing"
    try:
        started = utcnow()
        with write_transaction():
            connection = db.session.get(CalendarConnection, connection_id)
            if connection is None:
                return "gone"
            config = build_config(connection, full=full, now=started)
        try:
            result = port_for(config.kind).fetch_changes(config)
        except CalendarAuthError as exc:
            _failed(connection_id, str(exc), auth=True)
            return "reauth required"
        except CalendarSyncError as exc:
            _failed(connection_id, str(exc))
            return f"failed: {exc}"
        except Exception as exc:  # noqa: BLE001 - a library bug must still show in the health, in words
            log.exception("calendar sync crashed (connection %s)", connection_id)
            _failed(connection_id, f"Unexpected error ({type(exc).__name__}).")
            return "failed"
        with write_transaction():
            connection = db.session.get(CalendarConnection, connection_id)
            if connection is None or connection.lease_owner != owner:
                return "lease lost"
            changed = 0 if result.not_modified else store.apply_fetch(connection, result)
            _succeeded(connection, started, config.full)
        if config.kind == "google":
            outcome = _keep_push_channels(connection_id)
            if outcome == "reauth required":
                return outcome
        if any(s.is_destination for s in config.sources):
            from app.calendars.jobs import enqueue_writeback_for_connection

            enqueue_writeback_for_connection(connection_id)
        return f"ok: {changed} changes"
    finally:
        release(connection_id, owner)


def _keep_push_channels(connection_id: uuid.UUID) -> str:
    """After a Google sync (lease held): a push channel per blocking calendar (docs/calendars.md "Push").
    A calendar that just got its first channel is due again at once (the every-minute sweep queues
    it), so a change made between the list and the watch is not left to the 30-minute poll."""
    from app.calendars import push

    try:
        outcome = push.maintain(connection_id)
    except CalendarAuthError as exc:
        _failed(connection_id, str(exc), auth=True)
        return "reauth required"
    push.note_errors(connection_id, outcome.errors)
    if outcome.uncovered:
        with write_transaction():
            connection = db.session.get(CalendarConnection, connection_id)
            if connection is not None:
                connection.sync_requested_at = connection.next_sync_at = utcnow()
        return "follow up"
    return "ok"


def poll_interval_of(connection: CalendarConnection, now: datetime) -> timedelta:
    """The connection's poll interval; a Google one with a live push channel on every blocking
    calendar polls less often (the channels tell it about changes)."""
    pushed = False
    if connection.kind == "google" and not connection.poll_seconds:
        from app.calendars.push import fully_pushed

        pushed = fully_pushed(connection.id, now)
    return health.poll_interval(connection.kind, current_app.config, connection.poll_seconds, pushed=pushed)


def _succeeded(connection: CalendarConnection, started: datetime, was_full: bool) -> None:
    now = utcnow()
    interval = poll_interval_of(connection, now)
    connection.status, connection.last_error, connection.consecutive_failures = "ok", None, 0
    connection.last_synced_at, connection.last_attempt_at = now, started
    if connection.sync_requested_at is not None and connection.sync_requested_at <= started:
        connection.sync_requested_at = None
    if was_full:
        connection.full_sync_due = False
    connection.next_sync_at = (connection.sync_requested_at or now + interval)


def _failed(connection_id: uuid.UUID, message: str, *, auth: bool = False) -> None:
    now = utcnow()
    notify = False
    with write_transaction():
        connection = db.session.get(CalendarConnection, connection_id)
        if connection is None:
            return
        interval = health.poll_interval(connection.kind, current_app.config, connection.poll_seconds)
        connection.consecutive_failures += 1
        connection.last_attempt_at, connection.last_error = now, message[:1000]
        connection.sync_requested_at = None
        if auth:
            notify = connection.status != "reauth_required"
            connection.status, connection.next_sync_at = "reauth_required", None
        else:
            connection.status = "error"
            wait = health.backoff(connection.consecutive_failures, interval)
            if connection.kind == "google":  # Google asks for jittered back-off (429, rateLimitExceeded)
                wait += timedelta(seconds=random.uniform(0, wait.total_seconds() / 5))
            connection.next_sync_at = now + wait
    if notify:
        from app.calendars.notices import tell_provider_to_reconnect

        tell_provider_to_reconnect(connection_id)
