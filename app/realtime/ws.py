"""/ws: a client sends {"subscribe": ["slots:<id>", ...]}; the server answers
{"subscribed": [...], "denied": [...]} and then forwards each event as
{"channel": "<short name>", "event": {...}}. Pings keep idle connections open.

A browser sends its page's Origin with the upgrade request; one from another site
(cross-site WebSocket hijacking would ride on the visitor's session cookie) is
refused with 403 before the handshake. Programs that send no Origin are let in: they
carry no one else's cookies."""
from __future__ import annotations

import json
import queue
import time

from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request
from flask_login import current_user
from simple_websocket import ConnectionClosed

from app.availability.cache import versions
from app.extensions import db, sock
from app.realtime.channels import authorize
from app.realtime.hub import hub_for
from app.tenancy import portal_organization

MAX_CHANNELS = 50
PING_SECONDS = 25
PATH = "/ws"


def origin_allowed(origin: str | None, host: str) -> bool:
    """No Origin (not a browser), or one naming the host this request was sent to (and
    its port, when the Host header names one; browsers always do)."""
    if origin is None:
        return True
    try:
        sent, here = urlsplit(origin), urlsplit(f"//{host}")
        if sent.scheme not in ("http", "https") or not sent.hostname or sent.hostname != here.hostname:
            return False
        return here.port is None or (sent.port or (443 if sent.scheme == "https" else 80)) == here.port
    except ValueError:
        return False


def init_app(app: Flask) -> None:
    @app.before_request
    def _same_origin_sockets():
        if request.path == PATH and not origin_allowed(request.headers.get("Origin"), request.host):
            abort(403)


@sock.route(PATH)
def live(ws):
    user = current_user if current_user.is_authenticated else None
    org = portal_organization()
    if org is None:
        ws.close(reason=1008, message="no organization")
        return
    org_id = org.id
    hub = hub_for(current_app.config["REDIS_URL"])
    inbox = None
    names: dict[str, str] = {}
    try:
        request = json.loads(ws.receive(timeout=30) or "{}")
        asked = request.get("subscribe") if isinstance(request, dict) else None
        if not isinstance(asked, list) or not all(isinstance(n, str) for n in asked):
            ws.close(reason=1008, message='send {"subscribe": ["slots:<id>", ...]}')
            return
        wanted = asked[:MAX_CHANNELS]
        for name in wanted:
            channel = authorize(user, org_id, name)
            if channel:
                names[channel] = name
        db.session.remove()  # hold no database connection while the socket lives
        if names:
            inbox = hub.subscribe(list(names))  # returns once Redis confirmed: nothing after this is lost
        slot_providers = [n.split(":", 1)[1] for n in names.values() if n.startswith("slots:")]
        ws.send(json.dumps({
            "subscribed": sorted(names.values()), "denied": sorted(set(wanted) - set(names.values())),
            # what each slot list is at now: a page drawn from an older version refetches
            "versions": {f"slots:{p}": v for p, v in versions(slot_providers).items()},
        }))
        if not names:
            return
        last_ping = time.monotonic()
        while True:
            try:
                channel, data = inbox.get(timeout=1.0)
                ws.send(json.dumps({"channel": names.get(channel, channel), "event": json.loads(data)}))
            except queue.Empty:
                pass
            if time.monotonic() - last_ping > PING_SECONDS:
                ws.send(json.dumps({"ping": int(time.time())}))
                last_ping = time.monotonic()
            if not ws.connected:
                return
    except (ConnectionClosed, ValueError, json.JSONDecodeError):
        return
    finally:
        if inbox is not None:
            hub.unsubscribe(inbox)
