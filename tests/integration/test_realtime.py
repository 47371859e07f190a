"""Live updates over /ws against real servers, once per backend.

Two gunicorn servers (separate processes, separate ports) run on the SAME fresh
database and the same Redis, as two web hosts behind a load balancer would. Events a
booking on server A publishes must reach a socket held open on server B; the channel
permissions are checked through the real socket; a client that was away learns from
the "versions" map of its new subscription that it missed something.

Three tests pin what two former bugs got wrong: a subscription is answered as soon as
Redis confirms it, "subscribed" means the next event arrives even while others
subscribe in the same process, and a JSON message that is not a subscription closes
the socket without a server error.

Each test books its own Dr. Anna Weber (General consultation) slot, always the first
open one, so the tests of one module-scoped pair of servers do not disturb each other.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import simple_websocket
from simple_websocket import ConnectionClosed

from tests.integration import live_server as ls

FRONTDESK = f"frontdesk@{ls.DOMAIN}"
DELIVERY_SECONDS = 5.0
WEEKDAYS = {1, 2, 3, 4, 5}  # Dr. Weber works Monday to Friday


# --- clients ---------------------------------------------------------------------------------

def sign_in(server: ls.LiveServer, email: str) -> str:
    """Sign in through the HTML form; the Cookie header value of the signed-in browser session."""
    http = requests.Session()
    page = http.get(server.url("/auth/login"), timeout=30)
    assert page.status_code == 200, page.text[:500]
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page.text)
    assert match, "no csrf_token field on the sign-in page"
    response = http.post(server.url("/auth/login"), timeout=30, allow_redirects=False,
                         data={"email": email, "password": ls.DEMO_PASSWORD, "csrf_token": match.group(1)})
    assert response.status_code in (302, 303), (response.status_code, response.text[:500])
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    assert cookie, "signing in set no cookie"
    return cookie


class LiveSocket:
    """A WebSocket client on /ws of one server."""

    def __init__(self, server: ls.LiveServer, cookie: str | None = None):
        url = server.base_url.replace("http://", "ws://", 1) + "/ws"
        self.ws = simple_websocket.Client.connect(url, headers={"Cookie": cookie} if cookie else None)

    def send(self, data: str) -> None:
        self.ws.send(data)

    def receive(self, timeout: float) -> dict | None:
        raw = self.ws.receive(timeout=timeout)
        return None if raw is None else json.loads(raw)

    def subscribe(self, names: list[str], timeout: float = 10.0) -> dict:
        """Ask for `names`; the server's {"subscribed", "denied", "versions"} answer."""
        self.send(json.dumps({"subscribe": names}))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is not None and "subscribed" in message:
                return message
        raise AssertionError(f"no subscription answer within {timeout} s for {names}")

    def events_for(self, booking_id: str, channels: set[str], timeout: float) -> dict[str, dict]:
        """Collect the event of `booking_id` on each of `channels` until all arrived or `timeout` passed."""
        found: dict[str, dict] = {}
        deadline = time.monotonic() + timeout
        while channels - set(found) and (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message and "event" in message and message["event"].get("booking_id") == booking_id:
                found.setdefault(message["channel"], message["event"])
        return found

    def close(self) -> None:
        try:
            self.ws.close()
        except ConnectionClosed:
            pass


# --- servers and clinic ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def servers(backend, make_database, redis_url, test_root):
    """(A, B): two gunicorn servers on one fresh database and one Redis.

    B has a single worker process, so that the subscription tests below know which
    process (and so which realtime hub) every socket of theirs lands in."""
    database_url = make_database(backend)
    ls.seed(database_url, redis_url)
    # The threads below only spawn and wait: no app is built in two threads at once.
    with ThreadPoolExecutor(max_workers=2) as pool:
        starts = [pool.submit(ls.start_live_server, backend, database_url, redis_url, test_root,
                              workers=workers, threads=threads, seeded=True)
                  for workers, threads in ((2, 8), (1, 16))]
    failed = [f.exception() for f in starts if f.exception() is not None]
    if failed:
        for started in starts:
            if started.exception() is None:
                started.result().stop()
        raise failed[0]
    first, second = starts[0].result(), starts[1].result()
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


@pytest.fixture(scope="module")
def clinic(servers):
    server = servers[0]
    weber = ls.providers(server)["Dr. Anna Weber"]
    consult = ls.appointment_types(server, weber["id"])["General consultation"]
    return {"weber": weber["id"], "berlin": weber["location_ids"][0], "type": consult["id"],
            "timezone": weber["timezone"]}


def book(server: ls.LiveServer, clinic: dict) -> str:
    """A guest hold on Dr. Weber's first open consultation slot, through the JSON API; its id."""
    for day in ls.local_days(clinic["timezone"], 1, 13, WEEKDAYS):
        slots = ls.open_slots(server, clinic["type"], clinic["weber"], day)
        if slots:
            break
    else:
        raise AssertionError("Dr. Weber has no open consultation slot in the next two weeks")
    response = requests.post(server.url("/api/v1/bookings"), headers=ls.headers(), timeout=30, json={
        "provider_id": clinic["weber"], "appointment_type_id": clinic["type"], "start": slots[0]["start"],
        "name": "Realtime Guest", "email": f"rt-{uuid.uuid4().hex[:8]}@example.com"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def assert_closes(socket: LiveSocket, sent: str, timeout: float = 5.0) -> None:
    """The server closes the socket within `timeout`; at most an empty subscription answer comes first."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = socket.receive(left)
        except ConnectionClosed:
            return
        except ValueError as exc:  # not JSON: what a 500 written onto the upgraded socket would look like
            pytest.fail(f"after {sent!r} the server sent something that is not JSON ({exc})")
        if message is None:
            break
        assert message.get("subscribed") == [], f"after {sent!r} the server sent {message!r}"
    pytest.fail(f"the socket is still open {timeout} s after {sent!r}")


def log_size(server: ls.LiveServer) -> int:
    return server.log.stat().st_size


def new_log(server: ls.LiveServer, since: int) -> str:
    with open(server.log, "rb") as handle:
        handle.seek(since)
        return handle.read().decode(errors="replace")


# --- tests -----------------------------------------------------------------------------------

def test_event_published_on_one_server_reaches_a_socket_on_another(servers, clinic):
    server_a, server_b = servers
    wanted = {f"provider:{clinic['weber']}", f"slots:{clinic['weber']}"}
    socket = LiveSocket(server_b, sign_in(server_b, FRONTDESK))
    try:
        answer = socket.subscribe(sorted(wanted))
        assert set(answer["subscribed"]) == wanted and answer["denied"] == [], answer

        booking_id = book(server_a, clinic)
        received = socket.events_for(booking_id, wanted, DELIVERY_SECONDS)
    finally:
        socket.close()

    assert set(received) == wanted, f"events for {booking_id} on B within {DELIVERY_SECONDS} s: {received}"
    for channel, event in received.items():
        assert event["event"] == "held" and event["status"] == "held", (channel, event)
        assert event["provider_id"] == clinic["weber"], (channel, event)


def test_channel_permissions_through_the_socket(servers, clinic):
    # On A: with the hub bug below, each subscription keeps its process's hub busy for 2 s,
    # and the later tests subscribe on B.
    server, _ = servers
    provider, slots, location = (f"provider:{clinic['weber']}", f"slots:{clinic['weber']}",
                                 f"location:{clinic['berlin']}")
    asked = [provider, slots, location]

    def answer_for(email: str | None) -> dict:
        socket = LiveSocket(server, sign_in(server, email) if email else None)
        try:
            return socket.subscribe(asked)
        finally:
            socket.close()

    with ThreadPoolExecutor(max_workers=3) as pool:  # three clients at once
        patient, anonymous, frontdesk = pool.map(answer_for, [ls.PATIENT, None, FRONTDESK])

    for answer in (patient, anonymous):
        assert answer["subscribed"] == [slots], answer
        assert answer["denied"] == sorted([provider, location]), answer
        assert set(answer["versions"]) == {slots}, answer
    assert frontdesk["subscribed"] == sorted(asked) and frontdesk["denied"] == [], frontdesk


def test_malformed_message_closes_the_socket_without_a_server_error(servers):
    _, server_b = servers
    before = log_size(server_b)
    socket = LiveSocket(server_b)
    try:
        socket.send("this is not JSON {")
        assert_closes(socket, "this is not JSON {")
    finally:
        socket.close()
    time.sleep(0.3)  # let the server finish and write anything it logs
    assert requests.get(server_b.url("/healthz"), timeout=10).status_code == 200
    assert "Traceback" not in new_log(server_b, before), new_log(server_b, before)


def test_reconnecting_client_learns_from_versions_that_it_missed_a_change(servers, clinic):
    server_a, server_b = servers
    cookie = sign_in(server_b, FRONTDESK)
    wanted = [f"provider:{clinic['weber']}", f"slots:{clinic['weber']}"]
    key = f"slots:{clinic['weber']}"

    socket = LiveSocket(server_b, cookie)
    try:
        socket.subscribe(wanted)
        first = book(server_a, clinic)
        assert socket.events_for(first, {f"provider:{clinic['weber']}"}, DELIVERY_SECONDS), \
            f"no event for {first} on B"
    finally:
        socket.close()

    # What the client knew when it went away (after the first booking).
    socket = LiveSocket(server_b, cookie)
    try:
        seen = socket.subscribe(wanted)["versions"][key]
    finally:
        socket.close()

    book(server_a, clinic)  # while the client is away

    socket = LiveSocket(server_b, cookie)
    try:
        answer = socket.subscribe(wanted)
    finally:
        socket.close()
    assert sorted(answer["subscribed"]) == sorted(wanted), answer
    assert answer["versions"][key] > seen, (seen, answer["versions"])



def test_subscription_is_answered_as_soon_as_redis_confirms(servers, clinic):
    _, server_b = servers
    socket = LiveSocket(server_b)
    try:
        started = time.monotonic()
        answer = socket.subscribe([f"slots:{clinic['weber']}"])
        took = time.monotonic() - started
    finally:
        socket.close()
    assert answer["subscribed"] == [f"slots:{clinic['weber']}"], answer
    assert took < 1.0, f"the subscription answer took {took:.2f} s (Redis confirms in milliseconds)"


def test_json_that_is_not_a_subscription_closes_the_socket_without_a_server_error(servers):
    _, server_b = servers
    for payload in ("[]", "42", '"slots"', '{"subscribe": null}'):
        before = log_size(server_b)
        socket = LiveSocket(server_b)
        try:
            socket.send(payload)
            assert_closes(socket, payload)
        finally:
            socket.close()
        time.sleep(0.3)
        log = new_log(server_b, before)
        assert "Traceback" not in log, f"server error on {payload!r}:\n{log[-3000:]}"


def test_told_subscribed_means_the_next_event_arrives_even_when_others_subscribe_too(servers, clinic):
    server_a, server_b = servers
    chen = ls.providers(server_a)["Dr. Maya Chen"]["id"]
    provider = f"provider:{clinic['weber']}"
    # Three other clients of the same (single) process of B ask first; then ours.
    others = [LiveSocket(server_b) for _ in range(3)]
    socket = None
    try:
        for other in others:
            other.send(json.dumps({"subscribe": [f"slots:{chen}"]}))
        time.sleep(0.2)
        socket = LiveSocket(server_b, sign_in(server_b, FRONTDESK))
        assert socket.subscribe([provider])["subscribed"] == [provider]
        booking_id = book(server_a, clinic)
        received = socket.events_for(booking_id, {provider}, 1.5)
    finally:
        for client in [*others, socket]:
            if client is not None:
                client.close()
    assert provider in received, f"told subscribed, but the event of {booking_id} never arrived"


def test_a_socket_opened_by_another_site_is_refused_and_our_own_pages_connect(servers, clinic):
    """Cross-site WebSocket hijacking: a page elsewhere must not ride on the visitor's cookies."""
    server = servers[0]
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    for origin in ("https://evil.example", "null", server.base_url.replace("127.0.0.1", "localhost")):
        answer = requests.get(server.url("/ws"), headers={**upgrade, "Origin": origin}, timeout=10)
        assert answer.status_code == 403, origin
    url = server.url("/ws").replace("http://", "ws://", 1)
    own = simple_websocket.Client.connect(url, headers={"Origin": server.base_url})
    try:
        own.send(json.dumps({"subscribe": [f"slots:{clinic['weber']}"]}))
        assert json.loads(own.receive(timeout=10))["subscribed"] == [f"slots:{clinic['weber']}"]
    finally:
        own.close()
