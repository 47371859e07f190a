"""A local fake of Google's OAuth and Calendar API v3, run on 127.0.0.1 in a thread.

It speaks the real shapes: the token endpoint (authorization_code with a PKCE
S256 check, refresh_token; a revoked refresh token answers 400 invalid_grant),
a consent endpoint that approves at once (redirects back with code and state),
calendarList, events list with pageToken/nextSyncToken (410 for an invalidated
token), insert (409 for an existing id), patch and delete (404/410 for unknown
or deleted ids). Switches: `invalidate_sync_tokens()`, `revoke()`, `fail_next`.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

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

    def add_event(self, calendar_id: str, event: dict) -> None:
        event = {"status": "confirmed", **event, "updated_version": next(self.version)}
        self.calendars[calendar_id]["events"][event["id"]] = event

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
    try:
        yield fake
    finally:
        server.shutdown()
        thread.join()
