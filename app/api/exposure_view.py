"""Slot exposure for one viewer: the seeded sample of app/scheduling/exposure.py,
kept sticky for 7 minutes in Redis so a person's list does not reshuffle."""
from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import redis
from flask import request, session

from app.api.auth import api_user
from app.availability.read_cache import note_valid_until
from app.availability.reads import OpenSlot
from app.models import utcnow
from app.redis_client import get_redis
from app.scheduling.exposure import ExposureRequest, Scope, expose, hour_salt, sample_bounds

STICKY_SECONDS = 7 * 60


def viewer_key() -> str:
    from flask_login import current_user

    user = api_user() or (current_user if current_user.is_authenticated else None)
    if user is not None:
        return f"user:{user.id}"
    explicit = request.headers.get("X-Session-Id", "")
    if 8 <= len(explicit) <= 128:
        return "session:" + hashlib.sha256(explicit.encode()).hexdigest()[:32]
    if "viewer" in session:
        return "session:" + session["viewer"]
    if request.blueprint and request.blueprint.startswith("api"):
        # An API client without a session cookie would never send a minted key back:
        # derive a stable one instead of writing a new sticky sample on every request.
        client = f"{request.remote_addr}|{request.headers.get('User-Agent', '')}"
        return "client:" + hashlib.sha256(client.encode()).hexdigest()[:32]
    session["viewer"] = hashlib.sha256(f"{request.remote_addr}{utcnow().timestamp()}".encode()).hexdigest()[:32]
    return "session:" + session["viewer"]


def _slot_key(slot: OpenSlot) -> str:
    """Slots past the horizon have no id: they are known by provider and start."""
    return slot.id or f"{slot.provider_id}@{slot.start.isoformat()}"


def sample_day(slots: list[OpenSlot], day: date, scope: Scope, scope_key: str, type_key: str,
               tz: ZoneInfo) -> tuple[list[OpenSlot], int, bool]:
    viewer = viewer_key()
    key = f"bookwell:exposure:{viewer}:{type_key}:{scope_key}:{day.isoformat()}"
    by_key = {_slot_key(slot): slot for slot in slots}
    low, _ = sample_bounds(scope)
    now = utcnow()
    # A whole answer showing this sample (app/availability/read_cache.py) holds while the sample
    # is remembered and its hour's seed lasts.
    note_valid_until(now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
    try:
        client = get_redis()
        with client.pipeline(transaction=False) as pipe:
            remembered, left_ms = pipe.get(key).pttl(key).execute()
        if remembered is not None:
            kept = [by_key[k] for k in json.loads(remembered) if k in by_key]
            # Keep the person's sample while it still has enough open times; else draw afresh.
            if kept and len(kept) >= min(low, len(slots)):
                note_valid_until(now + timedelta(milliseconds=max(left_ms, 0)))
                return kept, len(slots), len(slots) > len(kept)
    except redis.RedisError:
        client = None
    note_valid_until(now + timedelta(seconds=STICKY_SECONDS))
    result = expose(slots, ExposureRequest(viewer_key=viewer, day=day, provider_key=scope_key,
                                           hour_salt=hour_salt(now), scope=scope), tz)
    if client is not None:
        try:
            client.set(key, json.dumps([_slot_key(s) for s in result.slots]), ex=STICKY_SECONDS)
        except redis.RedisError:
            pass
    return list(result.slots), result.total, result.has_more
