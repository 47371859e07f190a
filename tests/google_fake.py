"""A local fake of Google's OAuth and Calendar API v3, run on 127.0.0.1 in a thread.

It speaks the real shapes: the token endpoint (authorization_code with a PKCE
S256 check, refresh_token; a revoked refresh token answers 400 invalid_grant),
a consent endpoint that approves at once (redirects back with code and state),
calendarList, events list with pageToken/nextSyncToken (410 for an invalidated
token), insert (409 for an existing id), patch and delete (404/410 for unknown
or deleted ids), `events.watch` and `channels.stop`. Switches: `invalidate_sync_tokens()`,
`revoke()`, `fail_next`.

Push: a watch answers Google's channel resource (id, resourceId, resourceUri, token, expiration
in ms as a string) and Google's first notice, `sync`; every later change to an event of a watched
calendar (added, changed, cancelled, also by Bookwell's write-back) is POSTed with Google's
headers (X-Goog-Channel-ID, -Token, -Expiration, X-Goog-Resource-ID, -URI, -State,
X-Goog-Message-Number) and no body to every live channel's address, from one background thread;
`deliveries` records each answer and `wait_for_delivery()` awaits one. Google requires https
addresses; the fake also takes http:// (the tests' servers).
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import queue
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import quote, urlencode

import requests

from flask import Flask, jsonify, redirect, request
from werkzeug.serving import make_server

PAGE = 2  # small pages, so the client must follow nextPageToken


@dataclass
class FakeGoogle:
    url: str = ""
    client_id: str = "fake-client"
    client_secret: str = "fake-secret"
    email: str = "doctor@example.org"
    calendars: dict[str, dict] = field(default_factory=dict)  # id -> {summary, primary, events: {id: event}}
    codes: dict[str, dict] = field(default_factory=dict)
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    revoked: set[str] = field(default_factory=set)
    sync_tokens: dict[str, tuple[str, int]] = field(default_factory=dict)  # token -> (calendar, version)
    version: itertools.count = field(default_factory=lambda: itertools.count(1))
    log: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of every request
    token_calls: list[str] = field(default_factory=list)  # grant types
    full_lists: int = 0  # events.list calls without a syncToken (first pages)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer next on the Calendar API
    channels: dict[str, dict] = field(default_factory=dict)  # channel id -> {calendar, address, token, ...}
    channel_log: list[tuple[str, str]] = field(default_factory=list)  # ("watch" | "stop", channel id), in order
    deliveries: list[dict] = field(default_factory=list)  # every notice POSTed: channel, state, status answered
    max_ttl: int = 30 * 24 * 3600  # the longest channel life the fake grants (seconds)
    outbox: queue.Queue = field(default_factory=queue.Queue)
    delivered: threading.Condition = field(default_factory=threading.Condition)

    def add_event(self, calendar_id: str, event: dict) -> None:
        event = {"status": "confirmed", **event, "updated_version": next(self.version)}
        self.calendars[calendar_id]["events"][event["id"]] = event
        for channel_id in self.live_channels(calendar_id):
            self.outbox.put((channel_id, "exists"))

    def live_channels(self, calendar_id: str | None = None) -> dict[str, dict]:
        """Channels neither stopped nor expired (Google sends nothing on those)."""
        now_ms = time.time() * 1000
        return {k: c for k, c in list(self.channels.items())
                if c["live"] and c["expiration"] > now_ms and (calendar_id is None or c["calendar"] == calendar_id)}

    def wait_for_delivery(self, predicate, timeout: float = 30) -> dict:
        """The first delivery (a dict: channel, state, status) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        with self.delivered:
            while True:
                found = next((d for d in self.deliveries if predicate(d)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no such push delivery; sent: {self.deliveries}")
                self.delivered.wait(left)

    def send_notices(self) -> None:
        """The background sender: one notice at a time, in order, with Google's headers."""
        while True:
            item = self.outbox.get()
            if item is None:
                return
            channel_id, state = item
            channel = self.channels[channel_id]
            channel["number"] += 1
            headers = {"X-Goog-Channel-ID": channel_id, "X-Goog-Resource-ID": channel["resourceId"],
                       "X-Goog-Resource-URI": channel["resourceUri"], "X-Goog-Resource-State": state,
                       "X-Goog-Message-Number": str(channel["number"]),
                       "X-Goog-Channel-Expiration": formatdate(channel["expiration"] / 1000, usegmt=True)}
            if channel["token"]:
                headers["X-Goog-Channel-Token"] = channel["token"]
            try:
                status = requests.post(channel["address"], headers=headers, timeout=15).status_code
            except requests.RequestException as exc:
                status = repr(exc)
            with self.delivered:
                self.deliveries.append({"channel": channel_id, "state": state, "status": status})
                self.delivered.notify_all()

    def cancel_event(self, calendar_id: str, event_id: str) -> None:
        self.add_event(calendar_id, {**self.calendars[calendar_id]["events"][event_id], "status": "cancelled"})

    def live_events(self, calendar_id: str) -> dict[str, dict]:
        return {k: v for k, v in self.calendars[calendar_id]["events"].items() if v["status"] != "cancelled"}

    def invalidate_sync_tokens(self) -> None:
        self.sync_tokens.clear()

    def revoke(self) -> None:
        self.revoked |= self.refresh_tokens
        self.access_tokens.clear()


def _error(status: int, reason: str, message: str = ""):
    return jsonify({"error": {"code": status, "message": message or reason,
                              "errors": [{"domain": "global", "reason": reason}]}}), status


def _public(event: dict) -> dict:
    return {k: v for k, v in event.items() if k != "updated_version"}


def build_app(fake: FakeGoogle) -> Flask:
    app = Flask("fake_google")

    @app.before_request
    def record():
        fake.log.append((request.method, request.path))

    @app.get("/o/oauth2/v2/auth")
    def consent():
        args = request.args
        if args.get("client_id") != fake.client_id or args.get("code_challenge_method") != "S256":
            return "bad request", 400
        code = secrets.token_urlsafe(16)
        fake.codes[code] = {"challenge": args["code_challenge"], "redirect_uri": args["redirect_uri"],
                            "scope": args.get("scope", "")}
        return redirect(f"{args['redirect_uri']}?{urlencode({'code': code, 'state': args['state']})}")

    @app.post("/token")
    def token():
        form = request.form
        fake.token_calls.append(form.get("grant_type", ""))
        if form.get("client_id") != fake.client_id or form.get("client_secret") != fake.client_secret:
            return jsonify({"error": "invalid_client"}), 401
        if form.get("grant_type") == "authorization_code":
            grant = fake.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if grant is None or grant["challenge"] != challenge or grant["redirect_uri"] != form.get("redirect_uri"):
                return jsonify({"error": "invalid_grant", "error_description": "Bad code or verifier"}), 400
            refresh = secrets.token_urlsafe(16)
            fake.refresh_tokens.add(refresh)
            access = secrets.token_urlsafe(16)
            fake.access_tokens.add(access)
            return jsonify({"access_token": access, "expires_in": 3599, "refresh_token": refresh,
                            "scope": grant["scope"], "token_type": "Bearer"})
        if form.get("grant_type") == "refresh_token":
            refresh = form.get("refresh_token", "")
            if refresh not in fake.refresh_tokens or refresh in fake.revoked:
                return jsonify({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}), 400
            access = secrets.token_urlsafe(16)
            fake.access_tokens.add(access)
            return jsonify({"access_token": access, "expires_in": 3599, "token_type": "Bearer"})
        return jsonify({"error": "unsupported_grant_type"}), 400

    @app.before_request
    def authorize():
        if not request.path.startswith("/calendar/v3/"):
            return None
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in fake.access_tokens:
            return _error(401, "authError", "Invalid Credentials")
        if fake.fail_next:
            status = fake.fail_next.pop(0)
            return _error(status, "rateLimitExceeded" if status in (403, 429) else "backendError")
        return None

    @app.get("/calendar/v3/users/me/calendarList")
    def calendar_list():
        return jsonify({"kind": "calendar#calendarList", "items": [
            {"id": cid, "summary": c["summary"], "primary": c.get("primary", False), "accessRole": "owner"}
            for cid, c in fake.calendars.items()]})

    @app.get("/calendar/v3/calendars/<calendar_id>/events")
    def events_list(calendar_id):
        calendar = fake.calendars.get(calendar_id)
        if calendar is None:
            return _error(404, "notFound")
        args = request.args
        since = 0
        if args.get("syncToken"):
            known = fake.sync_tokens.get(args["syncToken"])
            if known is None or known[0] != calendar_id:
                return _error(410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required.")
            since = known[1]
        elif not args.get("pageToken"):
            fake.full_lists += 1
        items = sorted(calendar["events"].values(), key=lambda e: e["updated_version"])
        if since:
            items = [e for e in items if e["updated_version"] > since]
        elif args.get("showDeleted") != "true":
            items = [e for e in items if e["status"] != "cancelled"]
        offset = int(args.get("pageToken") or 0)
        page = items[offset:offset + PAGE]
        answer = {"kind": "calendar#events", "items": [_public(e) for e in page]}
        if offset + PAGE < len(items):
            answer["nextPageToken"] = str(offset + PAGE)
        else:
            token = secrets.token_urlsafe(12)
            current = max((e["updated_version"] for e in calendar["events"].values()), default=0)
            fake.sync_tokens[token] = (calendar_id, max(current, since))
            answer["nextSyncToken"] = token
        return jsonify(answer)

    @app.post("/calendar/v3/calendars/<calendar_id>/events")
    def insert(calendar_id):
        calendar = fake.calendars.get(calendar_id)
        if calendar is None:
            return _error(404, "notFound")
        body = request.get_json()
        event_id = body.get("id") or secrets.token_hex(8)
        if event_id in calendar["events"]:
            return _error(409, "duplicate", "The requested identifier already exists.")
        fake.add_event(calendar_id, {**body, "id": event_id})
        return jsonify(_public(calendar["events"][event_id]))

    @app.patch("/calendar/v3/calendars/<calendar_id>/events/<event_id>")
    def patch(calendar_id, event_id):
        calendar = fake.calendars.get(calendar_id)
        if calendar is None or event_id not in calendar["events"]:
            return _error(404, "notFound")
        fake.add_event(calendar_id, {**calendar["events"][event_id], **request.get_json(), "id": event_id})
        return jsonify(_public(calendar["events"][event_id]))

    @app.post("/calendar/v3/calendars/<calendar_id>/events/watch")
    def watch(calendar_id):
        if calendar_id not in fake.calendars:
            return _error(404, "notFound")
        body = request.get_json()
        if body.get("type") not in ("web_hook", "webhook") or not body.get("id") or not body.get("address"):
            return _error(400, "invalid", "Invalid channel: id, type web_hook and address are required.")
        if not body["address"].startswith(("https://", "http://")):
            return _error(400, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS.")
        if body["id"] in fake.channels:
            return _error(400, "channelIdNotUnique", "Channel id not unique.")
        ttl = min(int((body.get("params") or {}).get("ttl") or 604800), fake.max_ttl)
        resource_id = "res-" + hashlib.sha256(calendar_id.encode()).hexdigest()[:20]  # one per watched resource
        channel = {"calendar": calendar_id, "address": body["address"], "token": body.get("token"),
                   "resourceId": resource_id, "live": True, "number": 0,
                   "resourceUri": f"https://www.googleapis.com/calendar/v3/calendars/{quote(calendar_id, safe='')}"
                                  "/events?alt=json",
                   "expiration": int((time.time() + ttl) * 1000)}
        fake.channels[body["id"]] = channel
        fake.channel_log.append(("watch", body["id"]))
        fake.outbox.put((body["id"], "sync"))  # Google's first notice on a new channel
        answer = {"kind": "api#channel", "id": body["id"], "resourceId": resource_id,
                  "resourceUri": channel["resourceUri"], "expiration": str(channel["expiration"])}
        if channel["token"]:
            answer["token"] = channel["token"]
        return jsonify(answer)

    @app.post("/calendar/v3/channels/stop")
    def stop_channel():
        body = request.get_json()
        channel = fake.channels.get(body.get("id", ""))
        if channel is None or channel["resourceId"] != body.get("resourceId") or not channel["live"]:
            return _error(404, "notFound", f"Channel '{body.get('id')}' not found for project.")
        channel["live"] = False
        fake.channel_log.append(("stop", body["id"]))
        return "", 204

    @app.delete("/calendar/v3/calendars/<calendar_id>/events/<event_id>")
    def delete(calendar_id, event_id):
        calendar = fake.calendars.get(calendar_id)
        if calendar is None or event_id not in calendar["events"]:
            return _error(404, "notFound")
        if calendar["events"][event_id]["status"] == "cancelled":
            return _error(410, "deleted", "Resource has been deleted")
        fake.cancel_event(calendar_id, event_id)
        return "", 204

    return app


@contextmanager
def fake_google(email: str = "doctor@example.org"):
    """A running fake with the primary calendar (id = the account email) and a second one."""
    fake = FakeGoogle(email=email)
    fake.calendars[email] = {"summary": email, "primary": True, "events": {}}
    fake.calendars["rota@group.calendar.google.com"] = {"summary": "Hospital rota", "events": {}}
    server = make_server("127.0.0.1", 0, build_app(fake), threaded=True)
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sender = threading.Thread(target=fake.send_notices, daemon=True)
    sender.start()
    try:
        yield fake
    finally:
        fake.outbox.put(None)
        server.shutdown()
        thread.join()
        sender.join(20)
