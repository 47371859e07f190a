"""One Redis pub/sub listener per process, fanning messages out to local sockets.

Every web process subscribes to the same Redis channels, so an event
published by any process or worker reaches sockets on every process.
"""
from __future__ import annotations

import logging
import queue
import threading
import time

import redis

log = logging.getLogger(__name__)


class Hub:
    def __init__(self, redis_url: str):
        self._url = redis_url
        self._lock = threading.Lock()
        self._listeners: dict[str, set[queue.Queue]] = {}
        self._pubsub = None
        self._thread: threading.Thread | None = None
        self._changes: queue.Queue = queue.Queue()

    def subscribe(self, channels: list[str], wait: float = 3.0) -> queue.Queue:
        """Register an inbox; returns once Redis confirmed the subscription (or after `wait`
        seconds), so a client told "subscribed" really receives what is published next."""
        inbox: queue.Queue = queue.Queue(maxsize=1000)
        applied = threading.Event()
        with self._lock:
            for channel in channels:
                self._listeners.setdefault(channel, set()).add(inbox)
            self._changes.put(("subscribe", channels, applied))
            self._ensure_thread()
        applied.wait(wait)
        return inbox

    def unsubscribe(self, inbox: queue.Queue) -> None:
        with self._lock:
            gone = []
            for channel, inboxes in self._listeners.items():
                inboxes.discard(inbox)
                if not inboxes:
                    gone.append(channel)
            for channel in gone:
                del self._listeners[channel]
            if gone:
                self._changes.put(("unsubscribe", gone, None))

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="bookwell-realtime-hub", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                client = redis.Redis.from_url(self._url, socket_timeout=None, health_check_interval=30)
                # Subscribe confirmations must reach us (see _await_confirmation); the loop
                # below skips them itself.
                pubsub = client.pubsub()
                with self._lock:
                    current = list(self._listeners)
                if current:
                    pubsub.subscribe(*current)
                backoff = 0.5
                while True:
                    self._apply_changes(pubsub)
                    message = pubsub.get_message(ignore_subscribe_messages=False, timeout=0.2)
                    if message and message["type"] == "message":
                        self._deliver(message["channel"].decode(), message["data"].decode())
            except redis.RedisError as exc:  # reconnect; sockets stay open and catch up on refetch
                log.warning("realtime hub lost Redis (%s); reconnecting", exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)

    def _apply_changes(self, pubsub) -> None:
        while True:
            try:
                action, channels, applied = self._changes.get_nowait()
            except queue.Empty:
                return
            if action == "subscribe":
                pubsub.subscribe(*channels)
                self._await_confirmation(pubsub, set(channels))
                applied.set()
            elif channels:
                with self._lock:
                    channels = [c for c in channels if c not in self._listeners]
                if channels:
                    pubsub.unsubscribe(*channels)

    def _await_confirmation(self, pubsub, pending: set[str], timeout: float = 2.0) -> None:
        """Read until Redis acknowledged these subscriptions, delivering messages meanwhile."""
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            message = pubsub.get_message(ignore_subscribe_messages=False, timeout=0.1)
            if not message:
                continue
            if message["type"] == "subscribe":
                pending.discard(message["channel"].decode())
            elif message["type"] == "message":
                self._deliver(message["channel"].decode(), message["data"].decode())

    def _deliver(self, channel: str, data: str) -> None:
        with self._lock:
            inboxes = list(self._listeners.get(channel, ()))
        for inbox in inboxes:
            try:
                inbox.put_nowait((channel, data))
            except queue.Full:  # a stuck client: drop, it refetches on reconnect
                pass


_hubs: dict[str, Hub] = {}
_hubs_lock = threading.Lock()


def hub_for(redis_url: str) -> Hub:
    with _hubs_lock:
        if redis_url not in _hubs:
            _hubs[redis_url] = Hub(redis_url)
        return _hubs[redis_url]
