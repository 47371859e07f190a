"""Google Calendar, two-way, with plain HTTPS calls to Calendar API v3 (docs/calendars.md).

OAuth 2.0 authorization code flow with PKCE (S256): `authorization_request`
builds the consent URL with a random `state` and code verifier; the callback
exchanges the code (`exchange_code`). Tokens live encrypted in the
connection's `credentials`; an expired access token is refreshed before use
and after a 401; `invalid_grant` raises CalendarAuthError (reauth_required, no
more token requests).

Import: full sync (`singleEvents=true`, the window) then incremental sync from
the stored `nextSyncToken`, following `nextPageToken`; a 410 drops the token
and reads that calendar fully once, in the same job. Events Bookwell wrote
carry the private extended property `bookwell_booking` and never block time.

Write-back: `events.insert` with an id derived from the booking (a 409 means an
earlier try got through: `patch` it), `patch` on change, `delete` treating
404/410 as done. Every request goes through the guarded fetcher.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from app.calendars import fetcher
from app.calendars.busy import BusyInterval, local_instant
from app.calendars.ports import (
    CalendarAuthError,
    CalendarSyncError,
    ConnectionConfig,
    FetchResult,
    SourceChanges,
    SourceConfig,
    WriteResult,
    WrittenEvent,
)

log = logging.getLogger(__name__)
SCOPES = ("https://www.googleapis.com/auth/calendar.readonly",
          "https://www.googleapis.com/auth/calendar.events")
OWN_PROPERTY = "bookwell_booking"
PAGE_SIZE = 250


class Resync(Exception):
    """Google answered 410: the sync token is gone; read the calendar fully."""


# --- OAuth -------------------------------------------------------------------------------------------

def code_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorization_request(settings: dict, redirect_uri: str, connection_id: uuid.UUID) -> tuple[str, str, str]:
    """(authorize_url, state, code_verifier): the state names the connection and is random."""
    state = f"{connection_id.hex}.{secrets.token_urlsafe(24)}"
    verifier = secrets.token_urlsafe(48)
    query = urlencode({"response_type": "code", "client_id": settings["GOOGLE_CLIENT_ID"],
                       "redirect_uri": redirect_uri, "scope": " ".join(SCOPES), "state": state,
                       "code_challenge": code_challenge(verifier), "code_challenge_method": "S256",
                       "access_type": "offline", "prompt": "consent", "include_granted_scopes": "false"})
    return f"{settings['GOOGLE_AUTH_URL']}?{query}", state, verifier


def _token_request(settings: dict, form: dict) -> dict:
    body = urlencode({**form, "client_id": settings["GOOGLE_CLIENT_ID"],
                      "client_secret": settings["GOOGLE_CLIENT_SECRET"]}).encode()
    response = fetcher.fetch(settings["GOOGLE_TOKEN_URL"], method="POST", body=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded",
                                      "Accept": "application/json"},
                             allow_private=settings["CALENDAR_ALLOW_PRIVATE_URLS"],
                             timeout=settings["CALENDAR_FETCH_TIMEOUT_SECONDS"], max_bytes=256 * 1024,
                             auth_errors=False)
    try:
        data = json.loads(response.body or b"{}")
    except ValueError:
        data = {}
    if response.status == 400 and data.get("error") in ("invalid_grant", "invalid_client", "unauthorized_client"):
        raise CalendarAuthError(f"Google refused Bookwell's saved permission ({data['error']}); "
                                "connect Google Calendar again.")
    if response.status != 200 or "access_token" not in data:
        raise CalendarSyncError(f"Google's sign-in service answered HTTP {response.status}.")
    return data


def _tokens(data: dict, previous: dict | None = None) -> dict:
    out = dict(previous or {})
    out["access_token"] = data["access_token"]
    out["expires_at"] = int(time.time()) + int(data.get("expires_in", 3600))
    if data.get("refresh_token"):
        out["refresh_token"] = data["refresh_token"]
    if data.get("scope"):
        out["scope"] = data["scope"]
    return out


def exchange_code(settings: dict, code: str, verifier: str, redirect_uri: str) -> dict:
    """The callback's code -> credentials {access_token, refresh_token, expires_at, scope}."""
    data = _token_request(settings, {"grant_type": "authorization_code", "code": code,
                                     "code_verifier": verifier, "redirect_uri": redirect_uri})
    if not data.get("refresh_token"):
        raise CalendarSyncError("Google did not grant offline access; connect again and allow it.")
    return _tokens(data)


# --- busy rules for Google's event shape (pure) -------------------------------------------------------

def _when(value: dict, zone: ZoneInfo) -> datetime | None:
    if value.get("dateTime"):
        moment = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(value["timeZone"]) if value.get("timeZone") else zone)
        return moment.astimezone(timezone.utc)
    if value.get("date"):
        return local_instant(date.fromisoformat(value["date"]), zone)
    return None


def is_own(event: dict) -> bool:
    private = (event.get("extendedProperties") or {}).get("private") or {}
    return OWN_PROPERTY in private


def event_intervals(event: dict, zone: ZoneInfo) -> list[BusyInterval]:
    """One Google event (an instance: singleEvents=true) as busy time; [] when it frees its time.

    Cancelled, transparent, declined by the account (`self` attendee), Bookwell's own events and
    zero-length events never block; all-day events block local days; out-of-office counts as busy.
    """
    if event.get("status") == "cancelled" or event.get("transparency") == "transparent" or is_own(event):
        return []
    if any(a.get("self") and a.get("responseStatus") == "declined" for a in event.get("attendees") or []):
        return []
    if event.get("eventType") == "workingLocation":
        return []
    try:
        start, end = _when(event.get("start") or {}, zone), _when(event.get("end") or {}, zone)
    except (ValueError, KeyError):
        return []
    if start is None:
        return []
    if end is None:
        end = start + timedelta(days=1)
    return [BusyInterval(start, end, event["id"])] if end > start else []


# --- the port -----------------------------------------------------------------------------------------

class GooglePort:
    def __init__(self, settings: dict, save_credentials: Callable[[str, dict], None]):
        self.settings = settings
        self.save_credentials = save_credentials
        self.api = settings["GOOGLE_API_URL"].rstrip("/")

    # tokens
    def _access_token(self, config: ConnectionConfig, force: bool = False) -> str:
        credentials = config.credentials
        if not force and credentials.get("access_token") and credentials.get("expires_at", 0) > time.time() + 60:
            return credentials["access_token"]
        if not credentials.get("refresh_token"):
            raise CalendarAuthError("Google Calendar is not connected yet; finish the Google sign-in.")
        data = _token_request(self.settings, {"grant_type": "refresh_token",
                                              "refresh_token": credentials["refresh_token"]})
        fresh = _tokens(data, credentials)
        credentials.clear()
        credentials.update(fresh)
        self.save_credentials(config.id, dict(fresh))
        return fresh["access_token"]

    def _call(self, config: ConnectionConfig, method: str, path: str, *, query: dict | None = None,
              body: dict | None = None) -> tuple[int, dict]:
        url = self.api + path + (f"?{urlencode(query)}" if query else "")
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self._access_token(config, force=attempt > 0)}",
                       "Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            response = fetcher.fetch(url, method=method, headers=headers,
                                     body=json.dumps(body).encode() if body is not None else None,
                                     allow_private=self.settings["CALENDAR_ALLOW_PRIVATE_URLS"],
                                     timeout=self.settings["CALENDAR_FETCH_TIMEOUT_SECONDS"],
                                     max_bytes=self.settings["CALENDAR_MAX_FEED_BYTES"], auth_errors=False)
            try:
                data = json.loads(response.body) if response.body else {}
            except ValueError:
                data = {}
            if response.status == 401 and attempt == 0:
                continue  # the access token expired early: refresh once
            if response.status == 401:
                raise CalendarAuthError("Google refused Bookwell's access; connect Google Calendar again.")
            reasons = {e.get("reason") for e in (data.get("error") or {}).get("errors", [])} \
                if isinstance(data.get("error"), dict) else set()
            if response.status == 429 or (response.status == 403 and reasons & {"rateLimitExceeded",
                                                                               "userRateLimitExceeded"}):
                raise CalendarSyncError("Google asked Bookwell to slow down (rate limit); trying again later.")
            if response.status == 403:
                raise CalendarAuthError("Google refused access to this calendar; connect Google Calendar again.")
            return response.status, data
        raise CalendarSyncError("Google refused the request.")  # not reached

    # import
    def fetch_changes(self, config: ConnectionConfig) -> FetchResult:
        discovered, email = self._calendars(config)
        if email and config.credentials.get("account_email") != email:
            config.credentials["account_email"] = email
            self.save_credentials(config.id, {"account_email": email})
        first_time = not config.sources
        chosen = {s.external_id: s for s in config.sources if s.blocks_time}
        results = []
        for external_id, _name in discovered:
            source = chosen.get(external_id)
            if source is None and not first_time:
                continue
            results.append(self._sync_calendar(config, external_id, source))
        return FetchResult(sources=results, discovered=discovered)

    def _calendars(self, config: ConnectionConfig) -> tuple[list[tuple[str, str]], str | None]:
        found: list[tuple[str, str]] = []
        email, page = None, None
        while True:
            status, data = self._call(config, "GET", "/calendar/v3/users/me/calendarList",
                                      query={"maxResults": PAGE_SIZE, **({"pageToken": page} if page else {})})
            if status != 200:
                raise CalendarSyncError(f"Google did not list the calendars (HTTP {status}).")
            for item in data.get("items", []):
                found.append((item["id"], item.get("summaryOverride") or item.get("summary") or item["id"]))
                if item.get("primary"):
                    email = item["id"]
            page = data.get("nextPageToken")
            if not page:
                return found, email

    def _sync_calendar(self, config: ConnectionConfig, calendar_id: str, source: SourceConfig | None
                       ) -> SourceChanges:
        token = source.sync_token if source is not None else None
        if token and not config.full:
            try:
                return self._list(config, calendar_id, {"syncToken": token}, full=False)
            except Resync:
                log.info("Google sync token expired; one full resync of one calendar")
        stamp = lambda value: value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")  # noqa: E731
        try:
            return self._list(config, calendar_id, {"timeMin": stamp(config.window_start),
                                                    "timeMax": stamp(config.window_end)}, full=True)
        except Resync as exc:
            raise CalendarSyncError("Google kept refusing to list the calendar (HTTP 410).") from exc

    def _list(self, config: ConnectionConfig, calendar_id: str, query: dict, *, full: bool) -> SourceChanges:
        path = f"/calendar/v3/calendars/{quote(calendar_id, safe='')}/events"
        intervals: list[BusyInterval] = []
        changed: dict[str, list[BusyInterval]] = {}
        page = None
        while True:
            params = {**query, "singleEvents": "true", "maxResults": PAGE_SIZE, "showDeleted": str(not full).lower(),
                      **({"pageToken": page} if page else {})}
            status, data = self._call(config, "GET", path, query=params)
            if status == 410:
                raise Resync()
            if status != 200:
                raise CalendarSyncError(f"Google did not list the events (HTTP {status}).")
            for event in data.get("items", []):
                found = event_intervals(event, config.zone)
                if full:
                    intervals += found
                else:
                    changed[event["id"]] = found
            page = data.get("nextPageToken")
            if not page:
                break
        sync_token = data.get("nextSyncToken")
        if full:
            return SourceChanges(external_id=calendar_id, full=True, intervals=intervals, sync_token=sync_token)
        return SourceChanges(external_id=calendar_id, full=False, changed=changed, sync_token=sync_token)

    # write-back
    @staticmethod
    def event_id(event: WrittenEvent) -> str:
        """Google ids are base32hex (a-v, 0-9): the booking UUID's hex digits."""
        return uuid.UUID(event.uid.removeprefix("bookwell-").removesuffix("@bookwell")).hex

    @staticmethod
    def _body(event: WrittenEvent) -> dict:
        stamp = lambda value: value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")  # noqa: E731
        body = {"summary": event.summary, "start": {"dateTime": stamp(event.start)},
                "end": {"dateTime": stamp(event.end)}, "transparency": "opaque",
                "status": "confirmed" if event.status == "CONFIRMED" else "tentative", "sequence": event.sequence,
                "extendedProperties": {"private": {OWN_PROPERTY: event.uid}}}
        if event.location:
            body["location"] = event.location
        return body

    def write_event(self, config: ConnectionConfig, destination: SourceConfig, event: WrittenEvent,
                    href: str | None, etag: str | None) -> WriteResult:
        events = f"/calendar/v3/calendars/{quote(destination.external_id, safe='')}/events"
        event_id = self.event_id(event)
        body = self._body(event)
        if href is None:
            status, _ = self._call(config, "POST", events, query={"sendUpdates": "none"},
                                   body={**body, "id": event_id})
            if status in (200, 201):
                return WriteResult(event_id, None)
            if status != 409:  # 409: it exists (an earlier try got through): patch it below
                raise CalendarSyncError(f"Google refused the event (HTTP {status}).")
        status, _ = self._call(config, "PATCH", f"{events}/{event_id}", query={"sendUpdates": "none"}, body=body)
        if status == 200:
            return WriteResult(event_id, None)
        raise CalendarSyncError(f"Google did not update the event (HTTP {status}).")

    def delete_event(self, config: ConnectionConfig, href: str, etag: str | None) -> None:
        destination = next((s for s in config.sources if s.is_destination), None)
        if destination is None:
            return
        status, _ = self._call(config, "DELETE", f"/calendar/v3/calendars/{quote(destination.external_id, safe='')}"
                                                 f"/events/{quote(href, safe='')}", query={"sendUpdates": "none"})
        if status in (200, 204, 404, 410):
            return
        raise CalendarSyncError(f"Google did not delete the event (HTTP {status}).")

    # push channels (app/calendars/push.py keeps them)
    def watch(self, config: ConnectionConfig, calendar_id: str, channel_id: str, token: str, address: str,
              ttl_seconds: int) -> tuple[str, datetime]:
        """`events.watch`: Google POSTs change notices for the calendar to `address`; answers
        (resourceId, expiration)."""
        status, data = self._call(config, "POST", f"/calendar/v3/calendars/{quote(calendar_id, safe='')}/events/watch",
                                  body={"id": channel_id, "type": "web_hook", "address": address, "token": token,
                                        "params": {"ttl": str(ttl_seconds)}})
        if status != 200 or not data.get("resourceId"):
            reason = ", ".join(sorted({e.get("reason", "") for e in (data.get("error") or {}).get("errors", [])}
                                      - {""})) if isinstance(data.get("error"), dict) else ""
            raise CalendarSyncError(f"Google did not accept push notifications (HTTP {status}"
                                    f"{': ' + reason if reason else ''}); polling instead.")
        try:
            expires = datetime.fromtimestamp(int(data["expiration"]) / 1000, timezone.utc)
        except (KeyError, ValueError, TypeError):
            expires = datetime.now(timezone.utc) + timedelta(seconds=ttl_seconds)
        return data["resourceId"], expires

    def stop_channel(self, config: ConnectionConfig, channel_id: str, resource_id: str) -> None:
        """`channels.stop`; a channel Google no longer knows (404) is stopped too."""
        status, _ = self._call(config, "POST", "/calendar/v3/channels/stop",
                               body={"id": channel_id, "resourceId": resource_id})
        if status not in (200, 204, 404):
            raise CalendarSyncError(f"Google did not stop the push channel (HTTP {status}).")
