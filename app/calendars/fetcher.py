"""Outbound HTTP for calendar feeds and servers that refuses to reach inside the network.

Every host is resolved first and every address it resolves to must be public
(no loopback, private, link-local, multicast, reserved or unspecified
addresses), for the first request and for each redirect, unless
CALENDAR_ALLOW_PRIVATE_URLS is true (tests, on-premise servers). The connection
is then pinned to the checked address (no second DNS answer can swap it), the
body is read up to a size limit, and the whole request has a time limit. A redirect to
another host or port, or from https to http, goes on without the credentials (basic auth,
`Authorization`, cookies), and a request with a body is not sent to another address at all.
"""
from __future__ import annotations

import base64
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3

from app.calendars.ports import CalendarAuthError, CalendarSyncError

MAX_REDIRECTS = 5


class BlockedAddress(CalendarSyncError):
    pass


def check_host(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to; raises BlockedAddress for a non-public one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CalendarSyncError(f"The server name {host} could not be found.") from exc
    addresses = [info[4][0] for info in infos]
    if not allow_private:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if ip.version == 6 and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            if not ip.is_global or ip.is_multicast:
                raise BlockedAddress(f"{host} points to a private or local network address; that is not allowed.")
    return addresses[0]


_CREDENTIALS = frozenset({"authorization", "proxy-authorization", "cookie"})


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def _same_origin(old: str, new: str) -> bool:
    """Whether a redirect may keep the request's credentials: the same host and port, or the
    same host moving from http to https on the default ports (never from https to http)."""
    (scheme, host, port), (new_scheme, new_host, new_port) = _origin(old), _origin(new)
    if host != new_host:
        return False
    if scheme == new_scheme:
        return port == new_port
    return (scheme, port, new_scheme, new_port) == ("http", 80, "https", 443)


def _without_credentials(headers: dict[str, str] | None) -> dict[str, str] | None:
    return {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS} if headers else headers


@dataclass
class FetchedResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str


def fetch(url: str, *, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None,
          auth: tuple[str, str] | None = None, allow_private: bool = False, timeout: float = 15.0,
          max_bytes: int = 5 * 1024 * 1024, auth_errors: bool = True) -> FetchedResponse:
    """One request with redirects followed by hand, each hop checked; raises CalendarSyncError.

    401/403 raise CalendarAuthError unless `auth_errors` is False (the caller reads the reason)."""
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CalendarSyncError("Only http:// and https:// addresses can be fetched.")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = check_host(host, port, allow_private)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CalendarSyncError("The server took too long to answer.")
        pool_timeout = urllib3.Timeout(connect=min(remaining, 10.0), read=remaining)
        if parts.scheme == "https":  # TLS checks the name while the socket goes to the checked address
            pool = urllib3.HTTPSConnectionPool(address, port, timeout=pool_timeout, retries=False,
                                               server_hostname=host, assert_hostname=host,
                                               cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=pool_timeout, retries=False)
        sent = {"User-Agent": "Bookwell calendar sync", "Host": parts.netloc.rpartition("@")[2], **(headers or {})}
        if auth is not None:
            sent["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            response = pool.urlopen(method, path, body=body, headers=sent, redirect=False, retries=False,
                                    preload_content=False)
            try:
                if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                    target = urljoin(url, response.headers["Location"])
                    if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                        method, body = "GET", None  # as browsers do
                    if not _same_origin(url, target):
                        if body is not None:
                            raise CalendarSyncError("The server redirected the request to another address.")
                        auth, headers = None, _without_credentials(headers)
                    url = target
                    continue
                content = bytearray()
                for chunk in response.stream(65536):
                    content += chunk
                    if len(content) > max_bytes:
                        raise CalendarSyncError(f"The calendar is larger than {max_bytes // (1024 * 1024)} MB.")
                    if time.monotonic() > deadline:
                        raise CalendarSyncError("The server took too long to answer.")
            finally:
                response.release_conn()
        except urllib3.exceptions.NewConnectionError as exc:  # (a subclass of the timeout error)
            raise CalendarSyncError(f"Could not reach the server ({type(exc).__name__}).") from exc
        except urllib3.exceptions.TimeoutError as exc:
            raise CalendarSyncError("The server took too long to answer.") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise CalendarSyncError(f"Could not reach the server ({type(exc).__name__}).") from exc
        finally:
            pool.close()
        if auth_errors and response.status in (401, 403):
            raise CalendarAuthError("The server refused the user name or password.")
        return FetchedResponse(response.status, dict(response.headers), bytes(content), url)
    raise CalendarSyncError("Too many redirects.")
