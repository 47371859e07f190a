"""Google push channels (`events.watch`): Google POSTs a bodiless notice when a watched calendar
changes, and Bookwell only queues a sync of that connection (docs/calendars.md "Push").

- A channel per calendar that blocks time, created after a successful sync when `GOOGLE_PUSH_URL`
  (the public https address of the receiver) is set. Its id is a random UUID and its token is
  random; only the token's SHA-256 is stored, compared in constant time.
- The receiver (`authenticate`, then `receive`) refuses unknown channels and wrong tokens alike
  (401), ignores stopped or expired channels, notices naming another resource than the channel
  watches (`X-Goog-Resource-ID`) and Google's `sync` handshake, and for `exists`/`not_exists`
  marks the connection due and queues its sync (a deterministic job id: queued once).
- Renewal: every hour, channels expiring within 24 h get a successor first, then the old one is
  stopped. Channels are stopped on disconnect and when a calendar stops blocking time; a failed
  stop is logged (no personal data) and never blocks anything: the channel expires by itself.
- A connection with a live channel on every blocking calendar polls every 30 minutes, else every 5.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from app.calendars.ports import CalendarAuthError, CalendarSyncError, ConnectionConfig
from app.database import write_transaction
from app.errors import BookwellError
from app.extensions import db
from app.models import CalendarConnection, CalendarSource, GooglePushChannel, utcnow

log = logging.getLogger(__name__)

TTL = timedelta(days=7)  # what Bookwell asks for; Google may answer an earlier expiration
RENEW_WITHIN = timedelta(hours=24)
CHANNEL_HEADER, TOKEN_HEADER = "X-Goog-Channel-ID", "X-Goog-Channel-Token"
STATE_HEADER, RESOURCE_HEADER, NUMBER_HEADER = "X-Goog-Resource-State", "X-Goog-Resource-ID", "X-Goog-Message-Number"
CHANGE_STATES = ("exists", "not_exists")
_NO_CHANNEL = hashlib.sha256(b"no such channel").hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def push_address() -> str:
    return current_app.config.get("GOOGLE_PUSH_URL", "")


# --- the receiver ------------------------------------------------------------------------------

def authenticate(channel_id: str | None, token: str | None) -> uuid.UUID:
    """The channel a notice names, if its token is right: 400 without the headers, 401 for an
    unknown channel or a wrong token (answered alike, the token compared in constant time)."""
    if not channel_id or not token:
        raise BookwellError(400, "BAD_REQUEST", f"A push notice carries {CHANNEL_HEADER} and {TOKEN_HEADER}.")
    try:
        channel = db.session.get(GooglePushChannel, uuid.UUID(channel_id))
    except ValueError:
        channel = None
    expected = channel.token_hash if channel is not None else _NO_CHANNEL
    if not hmac.compare_digest(expected, token_hash(token)) or channel is None:
        raise BookwellError(401, "UNAUTHENTICATED", "Unknown push channel or wrong channel token.")
    return channel.id


def receive(channel_id: uuid.UUID, state: str | None, resource_id: str | None = None) -> dict:
    """An authenticated notice: a change (`exists`, `not_exists`) on a live channel queues one sync of
    its connection; the `sync` handshake and notices of stopped or expired channels, or naming another
    resource than the one the channel watches, are answered and ignored. Nothing in the request but
    the checked headers and the state is trusted (Google sends no body)."""
    channel = db.session.get(GooglePushChannel, channel_id)
    if (channel is None or channel.stopped_at is not None or channel.expires_at <= utcnow()
            or state not in CHANGE_STATES or not _same_resource(channel, resource_id)):
        return {"queued": False}
    connection_id = channel.connection_id
    with write_transaction():  # due now: if the job below is lost with Redis, the sweep queues it
        result = db.session.execute(
            update(CalendarConnection)
            .where(CalendarConnection.id == connection_id, CalendarConnection.status != "reauth_required")
            .values(sync_requested_at=utcnow()), execution_options={"synchronize_session": False})
    if not result.rowcount:
        return {"queued": False}
    from app.calendars.jobs import enqueue_sync

    try:
        enqueue_sync(connection_id)
    except Exception:  # noqa: BLE001 - Redis down: the every-minute sweep queues it
        log.warning("calendar sync after a push notice not queued now; the sweep will")
    return {"queued": True}


def _same_resource(channel: GooglePushChannel, resource_id: str | None) -> bool:
    """Google echoes the watched resource's id on every notice; a channel knows it from its watch.
    A notice without the header is taken (the token is the authentication); one naming another
    resource is not this channel's."""
    return not resource_id or channel.resource_id is None or hmac.compare_digest(
        channel.resource_id.encode(), resource_id.encode())


# --- keeping channels --------------------------------------------------------------------------

def live_channels(connection_id: uuid.UUID, now: datetime | None = None) -> list[GooglePushChannel]:
    now = now or utcnow()
    return list(db.session.scalars(select(GooglePushChannel).where(
        GooglePushChannel.connection_id == connection_id, GooglePushChannel.stopped_at.is_(None),
        GooglePushChannel.resource_id.isnot(None), GooglePushChannel.expires_at > now)))


def fully_pushed(connection_id: uuid.UUID, now: datetime | None = None) -> bool:
    """A live channel on every calendar that blocks time (then polling is only the fallback)."""
    blocking = set(db.session.scalars(select(CalendarSource.id).where(
        CalendarSource.connection_id == connection_id, CalendarSource.blocks_time.is_(True))))
    return bool(blocking) and blocking <= {c.source_id for c in live_channels(connection_id, now)}


@dataclass
class Maintained:
    created: int = 0
    uncovered: int = 0  # channels created where no live channel watched before (a sync should follow)
    stopped: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Channel:
    id: uuid.UUID
    source_id: uuid.UUID
    resource_id: str | None
    expires_at: datetime


def maintain(connection_id: uuid.UUID, renew_within: timedelta = timedelta(0)) -> Maintained:
    """Give each blocking calendar a live channel (one expiring within `renew_within` gets a successor,
    created before the old one is stopped); stop the channels of calendars that no longer block.
    The caller holds the connection's lease; the network is used outside any transaction."""
    from app.calendars.sync import build_config, port_for

    now = utcnow()
    address = push_address()
    with write_transaction():
        connection = db.session.get(CalendarConnection, connection_id)
        if connection is None or connection.kind != "google" or connection.status == "reauth_required":
            return Maintained()
        channels = [_Channel(c.id, c.source_id, c.resource_id, c.expires_at) for c in db.session.scalars(
            select(GooglePushChannel).where(GooglePushChannel.connection_id == connection_id,
                                            GooglePushChannel.stopped_at.is_(None)))]
        if not address and not channels:
            return Maintained()  # polling only
        config = build_config(connection, full=False, now=now)
        organization_id = connection.organization_id
        blocking = {s.id: s.external_id for s in connection.sources if s.blocks_time}
    port = port_for("google")
    outcome = Maintained()
    stale = [c for c in channels if c.source_id not in blocking or not address]
    for source_id, calendar_id in blocking.items() if address else ():
        mine = [c for c in channels if c.source_id == source_id]
        live = [c for c in mine if c.resource_id and c.expires_at > now]
        if any(c.expires_at > now + renew_within for c in live):
            continue
        try:
            _open(port, config, organization_id, connection_id, source_id, calendar_id, address)
        except CalendarSyncError as exc:
            outcome.errors.append(str(exc))
            continue
        outcome.created += 1
        outcome.uncovered += 0 if live else 1
        stale += mine  # the successor is live: now the old ones go
    outcome.stopped = stop(config, port, stale)
    return outcome


def _open(port, config: ConnectionConfig, organization_id: uuid.UUID, connection_id: uuid.UUID,
          source_id: uuid.UUID, calendar_id: str, address: str) -> None:
    """One new channel. Its row exists before Google is asked, so Google's first (`sync`) notice,
    which may arrive before the answer, finds it."""
    channel_id, token = uuid.uuid4(), secrets.token_urlsafe(32)
    with write_transaction():
        db.session.add(GooglePushChannel(id=channel_id, organization_id=organization_id,
                                         connection_id=connection_id, source_id=source_id,
                                         token_hash=token_hash(token), expires_at=utcnow() + TTL))
    try:
        resource_id, expires_at = port.watch(config, calendar_id, str(channel_id), token, address,
                                             int(TTL.total_seconds()))
    except BaseException:
        with write_transaction():
            db.session.execute(delete(GooglePushChannel).where(GooglePushChannel.id == channel_id),
                               execution_options={"synchronize_session": False})
        raise
    with write_transaction():
        db.session.execute(update(GooglePushChannel).where(GooglePushChannel.id == channel_id)
                           .values(resource_id=resource_id[:500], expires_at=expires_at),
                           execution_options={"synchronize_session": False})


def note_errors(connection_id: uuid.UUID, errors: list[str]) -> None:
    """A channel Google refused is in the connection's health in words; the sync itself worked,
    so the status stays (polling goes on every 5 minutes)."""
    if not errors:
        return
    with write_transaction():
        connection = db.session.get(CalendarConnection, connection_id)
        if connection is not None:
            connection.last_error = "; ".join(dict.fromkeys(errors))[:1000]


def stop(config: ConnectionConfig, port, channels: list) -> int:
    """`channels.stop` each channel, then mark it stopped here whatever Google answered: a notice of a
    stopped channel is ignored, and a channel Google did not stop expires by itself."""
    if not channels:
        return 0
    for channel in channels:
        if not channel.resource_id:
            continue  # its watch never answered: nothing Google could stop
        try:
            port.stop_channel(config, str(channel.id), channel.resource_id)
        except (CalendarSyncError, CalendarAuthError) as exc:
            log.warning("Google push channel %s not stopped (%s); it expires by itself at %s",
                        channel.id, type(exc).__name__, channel.expires_at.isoformat())
        except Exception:  # noqa: BLE001 - a stop must never block a disconnect
            log.exception("Google push channel %s not stopped", channel.id)
    with write_transaction():
        db.session.execute(update(GooglePushChannel)
                           .where(GooglePushChannel.id.in_([c.id for c in channels]),
                                  GooglePushChannel.stopped_at.is_(None))
                           .values(stopped_at=utcnow()), execution_options={"synchronize_session": False})
    return len(channels)


def stop_all(connection_id: uuid.UUID) -> int:
    """Disconnect: stop every channel of the connection (not when Google refused the saved permission:
    no token requests then; the channels expire by themselves)."""
    from app.calendars.sync import build_config, port_for

    with write_transaction():
        connection = db.session.get(CalendarConnection, connection_id)
        if connection is None or connection.kind != "google":
            return 0
        channels = [_Channel(c.id, c.source_id, c.resource_id, c.expires_at) for c in db.session.scalars(
            select(GooglePushChannel).where(GooglePushChannel.connection_id == connection_id,
                                            GooglePushChannel.stopped_at.is_(None)))]
        if not channels:
            return 0
        if connection.status == "reauth_required":
            log.info("push channels of a disconnected Google calendar left to expire (no permission to stop them)")
            return 0
        config = build_config(connection, full=False)
    return stop(config, port_for("google"), channels)


def renew_due(now: datetime | None = None) -> int:
    """Hourly: connections with a channel expiring within 24 h get successors (then the old ones
    stop). A connection another worker holds is left for the next hour. Returns channels created."""
    from app.calendars.sync import _failed, claim, release, worker_id

    now = now or utcnow()
    ids = list(db.session.scalars(
        select(GooglePushChannel.connection_id).join(CalendarConnection,
                                                     CalendarConnection.id == GooglePushChannel.connection_id)
        .where(GooglePushChannel.stopped_at.is_(None), GooglePushChannel.expires_at < now + RENEW_WITHIN,
               CalendarConnection.status != "reauth_required").distinct()))
    db.session.rollback()
    created = 0
    for connection_id in ids:
        owner = worker_id()
        if not claim(connection_id, owner):
            continue
        try:
            outcome = maintain(connection_id, RENEW_WITHIN)
            note_errors(connection_id, outcome.errors)
            created += outcome.created
        except CalendarAuthError as exc:
            _failed(connection_id, str(exc), auth=True)
        finally:
            release(connection_id, owner)
    return created
