"""Realtime fan-out benchmark against a real server: `python bench/realtime.py`.

SQLite and the embedded Redis (as bench/booking.py), one gunicorn server (gthread,
2 workers x 128 threads, at most 128 connections per worker so 200 sockets cannot pile
up behind one worker's busy threads). ONE front-desk session, signed in through the
HTML form, opens CLIENTS WebSocket clients on /ws, each subscribed to
"provider:<Dr. Anna Weber>". Then, one after another, BOOKINGS guest holds on Dr.
Weber's first open consultation slot through the JSON API (after one warm-up hold that
is not counted); for each hold and each client the arrival of its "held" event is
timed against:

  - the hold's HTTP response (the commit has happened by then; this is the reference
    of the headline figure, and it can be negative: the server publishes right after
    the commit, before it answers),
  - the moment the hold request was sent,
  - the event's own "at" (when the server created the event row, inside the
    transaction; same machine, so the same clock).

Samples of all measured holds are pooled. Arrivals are stamped by the client's reader
thread as the frame is parsed (simple_websocket.Client._handle_events), so client-side
thread wake-ups are not counted. Figures only, no assertions; everything it starts is
stopped on the way out.
"""
from __future__ import annotations

import contextlib
import json
import re
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
import simple_websocket

CLIENTS = 200
BOOKINGS = 5
WORKERS = 2
THREADS = 128
DELIVERY_TIMEOUT = 5.0
SUBSCRIBE_TIMEOUT = 120.0
TARGET_P95_MS = 100.0
WEEKDAYS = {1, 2, 3, 4, 5}


class TimedClient(simple_websocket.Client):
    """A client that stamps every message when its reader thread parses it."""

    def __init__(self, *args, **kwargs):
        self.arrivals: list[tuple[float, float, str]] = []  # (perf_counter, wall clock, text)
        super().__init__(*args, **kwargs)

    def _handle_events(self):
        keep_going = super()._handle_events()
        if self.input_buffer:
            now, wall = time.perf_counter(), time.time()
            while self.input_buffer:
                self.arrivals.append((now, wall, self.input_buffer.pop(0)))
        return keep_going

    def messages(self, start: int = 0):
        for stamp, wall, text in self.arrivals[start:]:
            try:
                yield stamp, wall, json.loads(text)
            except ValueError:
                continue


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)  # Python 3.11 reads a trailing "Z" too


def sign_in(server, email: str) -> str:
    """The Cookie header of a browser session signed in through the HTML form."""
    from tests.integration import live_server as ls

    http = requests.Session()
    page = http.get(server.url("/auth/login"), timeout=30)
    page.raise_for_status()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    response = http.post(server.url("/auth/login"), timeout=30, allow_redirects=False,
                         data={"email": email, "password": ls.DEMO_PASSWORD, "csrf_token": token})
    if response.status_code not in (302, 303):
        raise RuntimeError(f"sign-in failed: {response.status_code} {response.text[:300]}")
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def open_clients(server, cookie: str, channel: str) -> tuple[list[TimedClient], int, float]:
    """CLIENTS sockets subscribed to `channel`: (clients, how many failed, seconds until all answered)."""
    url = server.base_url.replace("http://", "ws://", 1) + "/ws"
    failures = []
    lock = threading.Lock()

    def one(_index: int) -> TimedClient | None:
        try:
            client = TimedClient.connect(url, headers={"Cookie": cookie})
            client.send(json.dumps({"subscribe": [channel]}))
            return client
        except Exception as exc:  # noqa: BLE001 - counted and reported
            with lock:
                failures.append(repr(exc))
            return None

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=50) as pool:
        clients = [c for c in pool.map(one, range(CLIENTS)) if c is not None]
    deadline = started + SUBSCRIBE_TIMEOUT
    waiting = list(clients)
    while waiting and time.perf_counter() < deadline:
        waiting = [c for c in waiting if not any(channel in m.get("subscribed", ()) for _, _, m in c.messages())]
        time.sleep(0.05)
    took = time.perf_counter() - started
    if failures:
        print(f"    {len(failures)} clients could not connect, e.g. {failures[0]}", flush=True)
    if waiting:
        print(f"    {len(waiting)} clients got no subscription answer within {SUBSCRIBE_TIMEOUT:.0f} s", flush=True)
    subscribed = [c for c in clients if c not in waiting]
    return subscribed, CLIENTS - len(subscribed), took


def hold(server, clinic: dict) -> tuple[str, float, float]:
    """A guest hold on Dr. Weber's first open consultation slot: (booking id, sent at, answered at)."""
    from tests.integration import live_server as ls

    for day in ls.local_days(clinic["timezone"], 1, 13, WEEKDAYS):
        slots = ls.open_slots(server, clinic["type"], clinic["weber"], day)
        if slots:
            break
    else:
        raise RuntimeError("Dr. Weber has no open consultation slot left")
    body = {"provider_id": clinic["weber"], "appointment_type_id": clinic["type"], "start": slots[0]["start"],
            "name": "Bench Guest", "email": f"bench-{uuid.uuid4().hex[:8]}@example.com"}
    headers = ls.headers()
    sent = time.perf_counter()
    response = requests.post(server.url("/api/v1/bookings"), headers=headers, json=body, timeout=60)
    answered = time.perf_counter()
    if response.status_code != 201:
        raise RuntimeError(f"hold failed: {response.status_code} {response.text[:300]}")
    return response.json()["id"], sent, answered


def deliveries(clients: list[TimedClient], marks: list[int], booking_id: str) -> list[tuple[float, float, dict]]:
    """The first arrival of `booking_id`'s "held" event at each client (arrivals after its mark)."""
    out = []
    for client, mark in zip(clients, marks):
        for stamp, wall, message in client.messages(mark):
            event = message.get("event") or {}
            if event.get("booking_id") == booking_id and event.get("event") == "held":
                out.append((stamp, wall, event))
                break
    return out


def measure(server, clinic: dict, clients: list[TimedClient]) -> None:
    from_response, from_request, from_event = [], [], []
    delivered = 0
    for number in range(BOOKINGS + 1):  # hold 0 warms up and is not counted
        marks = [len(c.arrivals) for c in clients]
        booking_id, sent, answered = hold(server, clinic)
        deadline = answered + DELIVERY_TIMEOUT
        while time.perf_counter() < deadline:
            if len(deliveries(clients, marks, booking_id)) == len(clients):
                break
            time.sleep(0.02)
        got = deliveries(clients, marks, booking_id)
        if number == 0:
            print(f"    warm-up hold: {len(got)}/{len(clients)} delivered", flush=True)
            continue
        delivered += len(got)
        for stamp, wall, event in got:
            from_response.append((stamp - answered) * 1000)
            from_request.append((stamp - sent) * 1000)
            from_event.append((wall - _instant(event["at"]).timestamp()) * 1000)
        time.sleep(0.2)

    expected = CLIENTS * BOOKINGS
    if not from_response:
        print(f"(a) {CLIENTS} clients, {BOOKINGS} bookings: delivered 0/{expected} (0.00)", flush=True)
        return

    def ms(samples: list[float], fraction: float) -> int:
        return round(_percentile(samples, fraction)) + 0  # an int: never "-0"

    p95, bound95 = _percentile(from_response, 0.95), _percentile(from_event, 0.95)
    print(f"(a) {CLIENTS} clients, {BOOKINGS} bookings: delivered {delivered}/{expected} "
          f"({delivered / expected:.2f}), latency from commit (hold response received) "
          f"p50 {ms(from_response, 0.5)} ms, p95 {ms(from_response, 0.95)} ms, max {max(from_response):.0f} ms "
          f"(target p95 <= {TARGET_P95_MS:.0f} ms: ratio {max(p95, 0.0) / TARGET_P95_MS:.2f})", flush=True)
    early = sum(1 for x in from_response if x < 0)
    print(f"(b) {early} of {len(from_response)} events arrived before the hold's HTTP response (negative above); "
          f"the commit lies between the event's own timestamp and that response, so from the timestamp is an "
          f"upper bound: p50 {ms(from_event, 0.5)} ms, p95 {ms(from_event, 0.95)} ms, max {max(from_event):.0f} ms "
          f"(ratio {max(bound95, 0.0) / TARGET_P95_MS:.2f}); from the hold request's start: "
          f"p50 {ms(from_request, 0.5)} ms, p95 {ms(from_request, 0.95)} ms, max {max(from_request):.0f} ms",
          flush=True)


def close_all(clients: list[TimedClient]) -> None:
    for client in clients:
        with contextlib.suppress(Exception):  # already closed by the server
            client.close()


def main() -> None:
    from app import embedded_redis
    from tests.conftest import _upgrade
    from tests.integration import live_server as ls

    folder = Path(tempfile.mkdtemp(prefix="bookwell-bench-realtime-"))
    redis_url = embedded_redis.ensure_running(folder / "redis")
    print(f"Realtime benchmark: SQLite, gunicorn gthread {WORKERS} workers x {THREADS} threads, {CLIENTS} "
          f"WebSocket clients (one front-desk session, same machine), logs in {folder}", flush=True)
    clients: list[TimedClient] = []
    try:
        database_url = f"sqlite:///{folder / 'bench.sqlite3'}"
        _upgrade(database_url)
        with ls.live_server("sqlite", database_url, redis_url, folder, workers=WORKERS, threads=THREADS,
                            GUNICORN_CMD_ARGS=f"--worker-connections {THREADS}") as server:
            weber = ls.providers(server)["Dr. Anna Weber"]
            clinic = {"weber": weber["id"], "timezone": weber["timezone"],
                      "type": ls.appointment_types(server, weber["id"])["General consultation"]["id"]}
            cookie = sign_in(server, f"frontdesk@{ls.DOMAIN}")
            clients, _missing, took = open_clients(server, cookie, f"provider:{weber['id']}")
            print(f"    {len(clients)}/{CLIENTS} clients subscribed in {took:.1f} s "
                  f"(connect + subscribe, 50 at a time, until the last answer)", flush=True)
            if clients:
                measure(server, clinic, clients)
            close_all(clients)  # before the server stops: it would wait for the open sockets
            clients = []
    finally:
        close_all(clients)
        embedded_redis.stop(folder / "redis")


if __name__ == "__main__":
    main()
