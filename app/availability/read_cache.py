"""Whole answers of the busiest reads (the slot list, the finder's partial), kept per process.

A cached answer is keyed by everything it was computed from and is valid only while
Redis says so: the involved providers' slot versions (`cache._version_key`, bumped after
every commit that changes their slots) and a setup token (bumped after every commit that
flushes a row the answer's scope depends on: organizations, locations, providers, visit
types, their links, working hours, exceptions, time off, rooms). A hit costs one Redis
round trip (MGET of the token and the versions) and no SQL.

Time also moves answers: a slot stops showing when its start comes within the notice, a
hold frees its time at its expiry, and the far end of the bookable range moves on. While an
answer is computed, the reads it makes note the first of these instants (`note_valid_until`:
`reads.open_slots`, the finder's open days, the viewer's sticky sample); the answer is
served only before it, so a range that touches today still drops past and too-soon slots
on time.
See docs/performance.md.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from flask import g, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.availability.cache import _fresh_snapshot, _version_key
from app.lru import LRU
from app.models import (
    AppointmentType,
    AvailabilityBreak,
    AvailabilityException,
    AvailabilityRule,
    Location,
    Organization,
    Provider,
    Room,
    TimeOff,
    utcnow,
)
from app.redis_client import get_redis

log = logging.getLogger(__name__)
SETUP_KEY = "bookwell:reads:setup"
_SETUP_CHANGED = "bookwell_read_setup_changed"
# Rows whose change can move a cached answer without changing any slot row (who offers a
# visit, names, zones, the exposure switch, the finder's "closed"/"full" days).
_SCOPE_ROWS = (Organization, Location, Provider, AppointmentType, AvailabilityRule, AvailabilityBreak,
               AvailabilityException, TimeOff, Room)
_VALID_UNTIL = "bookwell_read_valid_until"
_SETUP_SEEN = "bookwell_read_setup_seen"
MAX_AGE = timedelta(minutes=10)  # an answer nothing else limits (as the slot rows' own cache)


_scopes = LRU(2048)
_answers = LRU(512)
_setup_parts = LRU(512)


@dataclass(frozen=True)
class _Answer:
    body: object
    computed_at: datetime
    valid_until: datetime


@event.listens_for(Session, "after_flush")
def _note_setup(session: Session, _context) -> None:
    if _SETUP_CHANGED not in session.info and any(
            isinstance(obj, _SCOPE_ROWS) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info[_SETUP_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _bump_setup(session: Session) -> None:
    if session.info.pop(_SETUP_CHANGED, None):
        bump_setup()


def bump_setup() -> None:
    """Every cached answer is stale (code that writes scope rows with bulk SQL calls this after commit)."""
    try:
        # A fresh random token, not a counter: a Redis that lost its keys never hands
        # out a token an old cached answer was keyed by.
        get_redis().set(SETUP_KEY, uuid.uuid4().hex)
    except (redis.RedisError, RuntimeError) as exc:  # no Redis or no app: nothing is cached either
        log.warning("could not bump the read setup token: %s", exc)


@event.listens_for(Session, "after_rollback")
def _forget_setup(session: Session) -> None:
    session.info.pop(_SETUP_CHANGED, None)


def _state(provider_ids: tuple[str, ...]) -> tuple[str, tuple[bytes | None, ...]] | None:
    """(setup token, slot versions) in one round trip; None when Redis is unavailable."""
    try:
        client = get_redis()
        values = client.mget([SETUP_KEY, *(_version_key(p) for p in provider_ids)])
        if values[0] is None:
            client.set(SETUP_KEY, uuid.uuid4().hex, nx=True)
            values = client.mget([SETUP_KEY, *(_version_key(p) for p in provider_ids)])
    except (redis.RedisError, RuntimeError) as exc:
        log.warning("read cache unavailable: %s", exc)
        return None
    return values[0].decode(), tuple(values[1:])


def setup_memo(key: tuple, compute: Callable[[], object]) -> object:
    """compute(), kept per process under the setup token this request's answer is computed for
    (for parts that read only scope rows, e.g. the finder's working windows); uncached otherwise."""
    token = g.get(_SETUP_SEEN) if has_request_context() else None
    if token is None:
        return compute()
    found = _setup_parts.get((token, key))
    if found is None:
        found = compute()
        _setup_parts.put((token, key), found)
    return found


def note_valid_until(instant: datetime | None) -> None:
    """While an answer is computed: it stops being true at `instant` (a no-op otherwise)."""
    if instant is not None and has_request_context():
        noted = g.get(_VALID_UNTIL)
        if noted is not None and instant < noted[0]:
            noted[0] = instant




def serve(scope_key: tuple, resolve: Callable[[], tuple[str, ...]], answer_key: Callable[[], tuple],
          compute: Callable[[], object]) -> object:
    """The answer for this request: from the process cache when its providers' versions, the
    setup token and the clock still allow it, else compute() (and keep it).

    scope_key: what the request asks (organization selector, path and query, headers that matter).
    resolve(): the ids of the providers the answer reads (may raise 4xx; nothing is kept then).
    answer_key(): what else the answer depends on per request (the viewer's exposure key...).
    """
    for _ in range(2):
        scope = _scopes.get(scope_key)
        if scope is None:
            state = _state(())
            if state is None:
                return compute()
            _fresh_snapshot()  # the scope is read after the token: never newer token, older rows
            scope = (state[0], tuple(sorted(resolve())))
            _scopes.put(scope_key, scope)
        state = _state(scope[1])
        if state is None:
            return compute()
        if state[0] != scope[0]:
            _scopes.pop(scope_key)  # the setup changed: resolve again
            continue
        key = (scope_key, state, answer_key())
        now = utcnow()
        found = _answers.get(key) or _shared_answer(key)
        if found is not None and found.computed_at <= now < found.valid_until:
            return found.body
        _fresh_snapshot()  # computed from rows at least as new as the versions just read
        setattr(g, _VALID_UNTIL, [now + MAX_AGE])
        setattr(g, _SETUP_SEEN, state[0])
        body = compute()
        valid_until = g.pop(_VALID_UNTIL)[0]
        if valid_until > now:
            _keep(key, _Answer(body, now, valid_until))
        return body
    return compute()


def _redis_key(key: tuple) -> str:
    return "bookwell:reads:answer:" + hashlib.sha256(repr(key).encode()).hexdigest()[:40]


def _shared_answer(key: tuple) -> _Answer | None:
    """An answer another process computed under the same key (then kept here too)."""
    try:
        raw = get_redis().get(_redis_key(key))
    except redis.RedisError:
        return None
    if raw is None:
        return None
    stored = json.loads(raw)
    found = _Answer(stored["body"], datetime.fromisoformat(stored["computed_at"]),
                    datetime.fromisoformat(stored["valid_until"]))
    _answers.put(key, found)
    return found


def _keep(key: tuple, answer: _Answer) -> None:
    _answers.put(key, answer)
    seconds = math.ceil(min(answer.valid_until - answer.computed_at, MAX_AGE).total_seconds())
    try:
        get_redis().set(_redis_key(key), json.dumps({
            "body": answer.body, "computed_at": answer.computed_at.isoformat(),
            "valid_until": answer.valid_until.isoformat()}), ex=max(seconds, 1))
    except redis.RedisError:
        pass


def clear() -> None:
    """Forget every cached answer of this process (tests that reset Redis call it)."""
    _scopes.clear()
    _answers.clear()
    _setup_parts.clear()
