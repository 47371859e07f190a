"""CalDAV, two-way (Nextcloud, iCloud, Fastmail, Radicale), with the `caldav` library.

Import: discover the account's calendars, then per chosen calendar an
incremental `sync-collection` REPORT from the stored sync token; when there is
no token, a full sync is due, or the server forgot the token (or does not
support it), a full read of the calendar replaces its busy times. Deleted
objects are mapped back to their UID through the stored href -> [etag, uid] map.

Write-back: plain conditional requests through the guarded fetcher, so they
are idempotent: `PUT` with `If-None-Match: *` creates the deterministic
resource `<uid>.ics` at most once; `If-Match` updates it; a 412 re-reads the
ETag and retries; `DELETE` treats 404/410 as done.

Every request (the library's too, redirects included) goes through an adapter
that refuses non-public addresses unless CALENDAR_ALLOW_PRIVATE_URLS is set.
"""
from __future__ import annotations

import logging
import re
from datetime import timezone
from urllib.parse import quote, urljoin, urlsplit

import caldav
import requests
from caldav.lib import error as caldav_error
from icalendar import Calendar, Event
from requests.adapters import HTTPAdapter

from app.calendars import fetcher
from app.calendars.busy import BusyInterval, group_by_uid, intervals_from_calendar
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
PRODID = "-//Bookwell//Calendar write-back//EN"
MULTIGET_CHUNK = 200


class _GuardedAdapter(HTTPAdapter):
    """Checks the address of every request the library sends, redirects included."""

    def __init__(self, allow_private: bool):
        self.allow_private = allow_private
        super().__init__(max_retries=0)

    def send(self, request, *args, **kwargs):
        parts = urlsplit(request.url)
        fetcher.check_host(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80),
                           self.allow_private)
        return super().send(request, *args, **kwargs)


class CalDavPort:
    def __init__(self, *, allow_private: bool, timeout: float):
        self.allow_private, self.timeout = allow_private, timeout

    # --- import ---------------------------------------------------------------------------------

    def _client(self, config: ConnectionConfig) -> caldav.DAVClient:
        client = caldav.DAVClient(url=config.url, username=config.username, password=config.password,
                                  timeout=int(self.timeout))
        client.session.trust_env = False
        guard = _GuardedAdapter(self.allow_private)
        client.session.mount("http://", guard)
        client.session.mount("https://", guard)
        return client

    def fetch_changes(self, config: ConnectionConfig) -> FetchResult:
        try:
            with self._client(config) as client:
                calendars = client.principal().calendars()
                discovered = [(str(c.url), _name(c)) for c in calendars]
                first_time = not config.sources
                chosen = {s.external_id: s for s in config.sources if s.blocks_time}
                results = []
                for calendar in calendars:
                    source = chosen.get(str(calendar.url))
                    if source is None and not first_time:
                        continue
                    results.append(self._sync_calendar(calendar, source, config))
                return FetchResult(sources=results, discovered=discovered)
        except caldav_error.AuthorizationError as exc:
            raise CalendarAuthError("The CalDAV server refused the user name or app password.") from exc
        except fetcher.BlockedAddress:
            raise
        except caldav_error.DAVError as exc:
            raise CalendarSyncError(f"The CalDAV server answered with an error ({type(exc).__name__}).") from exc
        except requests.RequestException as exc:
            raise CalendarSyncError(f"Could not reach the CalDAV server ({type(exc).__name__}).") from exc

    def _intervals(self, data: str | bytes, config: ConnectionConfig) -> list[BusyInterval]:
        try:
            return intervals_from_calendar(data, zone=config.zone, window_start=config.window_start,
                                           window_end=config.window_end, own_uids=config.own_uids,
                                           self_addresses=config.self_addresses)
        except (ValueError, KeyError, IndexError):
            log.info("skipped an unreadable calendar object")
            return []

    def _sync_calendar(self, calendar, source: SourceConfig | None, config: ConnectionConfig) -> SourceChanges:
        external_id = str(calendar.url)
        token = source.sync_token if source is not None else None
        if token and not token.startswith("fake-") and not config.full:
            try:
                found = calendar.objects_by_sync_token(sync_token=token, load_objects=False, disable_fallback=True)
                return self._incremental(calendar, found, source, config)
            except caldav_error.DAVError:  # Radicale answers a forgotten token with 403: read it all again
                log.info("sync token refused; full resync of one calendar")
        try:  # the token first, then the data: a change in between comes again with the next increment
            found = calendar.objects_by_sync_token(sync_token=None, load_objects=False, disable_fallback=True)
            listed, new_token = list(found), found.sync_token
            etag_of = {str(obj.url): _etag(obj) for obj in listed}
            objects = self._load(calendar, [obj.url for obj in listed])
        except caldav_error.DAVError as exc:
            if isinstance(exc, caldav_error.AuthorizationError):
                raise
            objects, new_token, etag_of = list(calendar.objects(load_objects=True)), None, {}  # no sync support
        etags = {href: [etag_of.get(href, ""), _uid(data)] for href, data in objects}
        intervals = self._intervals_of_all([data for _, data in objects], config)
        return SourceChanges(external_id=external_id, full=True, intervals=intervals, sync_token=new_token,
                             etags=etags)

    def _intervals_of_all(self, datas: list[str], config: ConnectionConfig) -> list[BusyInterval]:
        """Every object's events expanded in one pass (one parse per object, one expansion call)."""
        combined = Calendar()
        combined.add("prodid", PRODID)
        combined.add("version", "2.0")
        zones: set[str] = set()
        for data in datas:
            try:
                parsed = Calendar.from_ical(data)
            except ValueError:
                log.info("skipped an unreadable calendar object")
                continue
            for component in parsed.subcomponents:
                if component.name == "VTIMEZONE":
                    if str(component.get("TZID")) in zones:
                        continue
                    zones.add(str(component.get("TZID")))
                if component.name in ("VEVENT", "VTIMEZONE"):
                    combined.add_component(component)
        return self._intervals(combined, config)

    @staticmethod
    def _load(calendar, urls) -> list[tuple[str, str]]:
        """(href, data) of these objects, fetched with calendar-multiget REPORTs (not one GET each)."""
        loaded: list[tuple[str, str]] = []
        urls = list(urls)
        for index in range(0, len(urls), MULTIGET_CHUNK):
            for obj in calendar.multiget(urls[index:index + MULTIGET_CHUNK], raise_notfound=False):
                if obj.data:
                    loaded.append((str(obj.url), obj.data))
        return loaded

    def _incremental(self, calendar, found, source: SourceConfig, config: ConnectionConfig) -> SourceChanges:
        etags = {href: list(value) for href, value in source.etags.items()}
        listed = list(found)
        etag_of = {str(obj.url): _etag(obj) for obj in listed}
        loaded = dict(self._load(calendar, [obj.url for obj in listed])) if listed else {}
        changed: dict[str, list[BusyInterval]] = {}
        for href in etag_of:
            data = loaded.get(href)
            if not data:  # deleted on the server
                previous = etags.pop(href, None)
                if previous and previous[1]:
                    changed.setdefault(previous[1], [])
                continue
            uid = _uid(data)
            previous = etags.get(href)
            if previous and previous[1] and previous[1] != uid:
                changed.setdefault(previous[1], [])
            etags[href] = [etag_of[href], uid]
            grouped = group_by_uid(self._intervals(data, config))
            changed[uid] = grouped.get(uid, [])
        return SourceChanges(external_id=str(source.external_id), full=False, changed=changed,
                             sync_token=found.sync_token, etags=etags)

    # --- write-back -----------------------------------------------------------------------------

    def _request(self, config: ConnectionConfig, method: str, url: str, headers: dict | None = None,
                 body: bytes | None = None) -> fetcher.FetchedResponse:
        return fetcher.fetch(url, method=method, headers=headers, body=body,
                             auth=(config.username or "", config.password or ""), allow_private=self.allow_private,
                             timeout=self.timeout, max_bytes=1024 * 1024)

    def write_event(self, config: ConnectionConfig, destination: SourceConfig, event: WrittenEvent,
                    href: str | None, etag: str | None) -> WriteResult:
        url = href or urljoin(destination.external_id.rstrip("/") + "/", quote(event.uid, safe="@") + ".ics")
        body = event_ics(event)
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        condition = {"If-Match": etag} if etag else {"If-None-Match": "*"}
        for _ in range(3):
            response = self._request(config, "PUT", url, {**headers, **condition}, body)
            if response.status in (200, 201, 204):
                return WriteResult(url, response.headers.get("ETag") or self._etag_of(config, url))
            if response.status == 412:  # it exists (an earlier try got through) or changed: take its ETag
                current = self._etag_of(config, url)
                condition = {"If-Match": current} if current else {"If-None-Match": "*"}
                continue
            raise CalendarSyncError(f"The CalDAV server refused the event (HTTP {response.status}).")
        raise CalendarSyncError("The event kept changing on the server while Bookwell wrote it.")

    def _etag_of(self, config: ConnectionConfig, url: str) -> str | None:
        response = self._request(config, "HEAD", url)
        if response.status == 404:
            return None
        if response.status >= 400 or not response.headers.get("ETag"):
            response = self._request(config, "GET", url)
            if response.status == 404:
                return None
        return response.headers.get("ETag")

    def delete_event(self, config: ConnectionConfig, href: str, etag: str | None) -> None:
        response = self._request(config, "DELETE", href)
        if response.status in (200, 204, 404, 410):
            return
        raise CalendarSyncError(f"The CalDAV server did not delete the event (HTTP {response.status}).")


def event_ics(event: WrittenEvent) -> bytes:
    """The written VEVENT: no attendees, no organizer (no invitation storms), no health details."""
    from datetime import datetime

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    item = Event()
    item.add("uid", event.uid)
    item.add("dtstamp", datetime.now(timezone.utc))
    item.add("dtstart", event.start.astimezone(timezone.utc))
    item.add("dtend", event.end.astimezone(timezone.utc))
    item.add("sequence", event.sequence)
    item.add("summary", event.summary)
    if event.location:
        item.add("location", event.location)
    item.add("status", event.status)
    item.add("transp", "OPAQUE")
    item.add("x-bookwell-booking", event.uid)
    calendar.add_component(item)
    return calendar.to_ical()


_UID = re.compile(r"^UID(?:;[^:\r\n]*)?:(.*(?:\r?\n[ \t].*)*)", re.MULTILINE)


def _uid(data: str | bytes) -> str:
    """The UID of a calendar object without parsing all of it (unfolded; empty when none)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    match = _UID.search(text)
    return re.sub(r"\r?\n[ \t]", "", match.group(1)).strip()[:500] if match else ""


def _etag(obj) -> str:
    props = getattr(obj, "props", None) or {}
    for key, value in props.items():
        if key.endswith("getetag"):
            return str(value)
    return ""


def _name(calendar) -> str:
    try:
        return calendar.get_display_name() or calendar.name or str(calendar.url)
    except Exception:  # noqa: BLE001 - a calendar without a display name still syncs
        return str(calendar.url)
