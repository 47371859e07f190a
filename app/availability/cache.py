"""Cached range reads of slots, invalidated by a per-provider version bump.

The version is bumped after the transaction that changed the slots commits
(never before, or a reader could cache the old rows under the new version).
Without Redis the cache is simply bypassed.

The same moment tells live pages: a change of slots that no booking event
announces (new hours, a block, approved time off, external busy times) is
published as {"event": "availability"} on the provider's slots and agenda
channels. Booking changes are announced by their own events (app/events.py).
"""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.database import after_commit_or_now
from app.redis_client import get_redis

log = logging.getLogger(__name__)
TTL_SECONDS = 600
_PENDING = "bookwell_bump_providers"
_ANNOUNCED = "bookwell_providers_with_booking_events"


def _version_key(provider_id: uuid.UUID | str) -> str:
    return f"bookwell:slots:version:{provider_id}"


def versions(provider_ids: list[str]) -> dict[str, int]:
    """The current slot version of each provider (0 when never bumped, or Redis is down)."""
    if not provider_ids:
        return {}
    try:
        values = get_redis().mget([_version_key(p) for p in provider_ids])
    except redis.RedisError:
        return {}
    return {p: int(v or 0) for p, v in zip(provider_ids, values)}


def bump_after_commit(session: Session, provider_id: uuid.UUID, organization_id: uuid.UUID) -> None:
    session.info.setdefault(_PENDING, {})[str(provider_id)] = str(organization_id)


def announced_by_booking_event(session: Session, provider_id: uuid.UUID) -> None:
    """This transaction records a booking event for the provider: no separate availability message."""
    session.info.setdefault(_ANNOUNCED, set()).add(str(provider_id))


def availability_message(organization_id: str, provider_id: str) -> tuple[list[str], str]:
    base = f"bookwell:org:{organization_id}"
    return ([f"{base}:slots:{provider_id}", f"{base}:provider:{provider_id}"],
            json.dumps({"event": "availability", "provider_id": provider_id}))


@event.listens_for(Session, "after_commit")
def _bump_versions_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    announced = session.info.pop(_ANNOUNCED, set())
    if pending:
        # A Redis round trip: after the writer gate when there is one (app/database.py).
        after_commit_or_now("slot-versions", lambda: _bump_versions(pending, announced))


def _bump_versions(pending: dict[str, str], announced: set[str]) -> None:
    try:
        client = get_redis()
        with client.pipeline() as pipe:
            for provider_id in sorted(pending):
                pipe.incr(_version_key(provider_id))
            for provider_id in sorted(set(pending) - announced):
                names, text = availability_message(pending[provider_id], provider_id)
                for name in names:
                    pipe.publish(name, text)
            pipe.execute()
    except (redis.RedisError, RuntimeError) as exc:  # no Redis or no app: entries expire by TTL
        log.warning("could not bump slot cache versions: %s", exc)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_ANNOUNCED, None)


def cached(provider_ids: list[str], parts: list[str], compute: Callable[[], object]) -> object:
    """Return compute() through the cache, keyed by the providers' current versions."""
    try:
        client = get_redis()
        versions = client.mget([_version_key(p) for p in provider_ids]) if provider_ids else []
        key = "bookwell:slots:" + ":".join([*parts, *[(v or b"0").decode() for v in versions]])
        hit = client.get(key)
        if hit is not None:
            return json.loads(hit)
    except redis.RedisError as exc:
        log.warning("slot cache unavailable: %s", exc)
        return compute()
    _fresh_snapshot()
    value = compute()
    try:
        client.set(key, json.dumps(value), ex=TTL_SECONDS)
    except redis.RedisError:
        pass
    return value


def _fresh_snapshot() -> None:
    """End a read-only transaction before computing a value to cache under the versions just read.

    On SQLite a transaction reads one snapshot, taken at its first statement: a request that
    read rows before reading the versions could otherwise compute from data older than a
    version bumped in between, and cache it under the new version until the next bump.
    """
    from app.extensions import db

    session = db.session()
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()
