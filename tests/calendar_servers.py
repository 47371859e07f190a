"""Real servers for the calendar tests: a tiny HTTP server for ICS feeds and a Radicale CalDAV server."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from tests.processes import free_port


@dataclass
class FeedServer:
    """Serves `body` at /feed.ics with an ETag (304 on If-None-Match) and counts requests."""

    body: bytes = b""
    redirects: dict[str, str] = field(default_factory=dict)
    redirect_status: int = 302
    requests: list[dict] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/feed.ics"

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@contextmanager
def feed_server(body: bytes = b"") -> Iterator[FeedServer]:
    state = FeedServer(body=body)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - answered as a GET, with the body noted
            length = int(self.headers.get("Content-Length") or 0)
            self.do_GET(method="POST", body=self.rfile.read(length) if length else b"")

        def do_GET(self, method: str = "GET", body: bytes = b""):  # noqa: N802 - http.server's naming
            state.requests.append({"path": self.path, "if_none_match": self.headers.get("If-None-Match"),
                                   "authorization": self.headers.get("Authorization"),
                                   "cookie": self.headers.get("Cookie"), "method": method, "body": body})
            if self.path in state.redirects:
                self.send_response(state.redirect_status)
                self.send_header("Location", state.redirects[self.path])
                self.end_headers()
                return
            if self.path != "/feed.ics":
                self.send_response(404)
                self.end_headers()
                return
            if self.headers.get("If-None-Match") == state.etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.send_header("ETag", state.etag)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Radicale:
    url: str
    username: str
    password: str
    process: subprocess.Popen
    folder: Path

    def calendar_url(self, name: str) -> str:
        return f"{self.url}/{self.username}/{name}/"


@contextmanager
def radicale_server(username: str = "weber", password: str = "app-password") -> Iterator[Radicale]:
    """A real Radicale on 127.0.0.1 with one user (plain-text htpasswd) and filesystem storage."""
    folder = Path(tempfile.mkdtemp(prefix="radicale-"))
    (folder / "users").write_text(f"{username}:{password}\n")
    port = free_port()
    config = folder / "config"
    config.write_text(f"""[server]
hosts = 127.0.0.1:{port}
[auth]
type = htpasswd
htpasswd_filename = {folder / 'users'}
htpasswd_encryption = plain
delay = 0
[storage]
filesystem_folder = {folder / 'collections'}
[logging]
level = warning
[rights]
type = owner_only
""")
    log = open(folder / "log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(config)], stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError((folder / "log").read_text()[-2000:])
        try:
            requests.get(url + "/.web/", timeout=1)
            break
        except requests.RequestException:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    try:
        yield Radicale(url, username, password, process, folder)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def make_collection(server: Radicale, name: str, display_name: str) -> str:
    """MKCALENDAR a collection on the server; returns its URL."""
    url = server.calendar_url(name)
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
 <D:set><D:prop><D:displayname>{display_name}</D:displayname></D:prop></D:set></C:mkcalendar>"""
    response = requests.request("MKCALENDAR", url, data=body, auth=(server.username, server.password), timeout=10)
    assert response.status_code in (201, 405), response.text
    return url


def put_event(server: Radicale, collection_url: str, uid: str, ics: str) -> None:
    response = requests.put(f"{collection_url}{uid}.ics", data=ics.encode(), auth=(server.username, server.password),
                            headers={"Content-Type": "text/calendar"}, timeout=10)
    assert response.status_code in (201, 204), response.text


def list_events(server: Radicale, collection_url: str) -> dict[str, str]:
    """href -> raw ICS of every object in the collection (PROPFIND + GET)."""
    body = """<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"""
    response = requests.request("PROPFIND", collection_url, data=body, headers={"Depth": "1"},
                                auth=(server.username, server.password), timeout=10)
    assert response.status_code == 207, response.text
    import re

    hrefs = [h for h in re.findall(r"<(?:\w+:)?href>([^<]+)</(?:\w+:)?href>", response.text) if h.endswith(".ics")]
    base = server.url
    return {href: requests.get(base + href, auth=(server.username, server.password), timeout=10).text
            for href in hrefs}
