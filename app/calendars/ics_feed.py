"""Read-only ICS feed import: a conditional GET through the guarded fetcher, then the busy rules."""
from __future__ import annotations

from app.calendars import fetcher
from app.calendars.busy import intervals_from_calendar
from app.calendars.ports import (
    CalendarSyncError,
    ConnectionConfig,
    FetchResult,
    SourceChanges,
    SourceConfig,
    WriteResult,
    WrittenEvent,
)


class IcsFeedPort:
    """A feed is one source; it cannot be written to."""

    def __init__(self, *, allow_private: bool, timeout: float, max_bytes: int):
        self.allow_private, self.timeout, self.max_bytes = allow_private, timeout, max_bytes

    def fetch_changes(self, config: ConnectionConfig) -> FetchResult:
        headers = {"Accept": "text/calendar"}
        if not config.full:
            if config.cursor.get("etag"):
                headers["If-None-Match"] = config.cursor["etag"]
            if config.cursor.get("last_modified"):
                headers["If-Modified-Since"] = config.cursor["last_modified"]
        response = fetcher.fetch(config.url or "", headers=headers, allow_private=self.allow_private,
                                 timeout=self.timeout, max_bytes=self.max_bytes)
        if response.status == 304:
            return FetchResult(not_modified=True)
        if response.status != 200:
            raise CalendarSyncError(f"The feed answered HTTP {response.status}.")
        try:
            intervals = intervals_from_calendar(
                response.body, zone=config.zone, window_start=config.window_start, window_end=config.window_end,
                own_uids=config.own_uids, self_addresses=config.self_addresses)
        except (ValueError, KeyError, IndexError) as exc:
            raise CalendarSyncError("The feed is not a valid iCalendar file.") from exc
        cursor = {"etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified")}
        return FetchResult(sources=[SourceChanges(external_id=s.external_id, full=True, intervals=intervals)
                                    for s in config.sources], cursor=cursor)

    def write_event(self, config: ConnectionConfig, destination: SourceConfig, event: WrittenEvent,
                    href: str | None, etag: str | None) -> WriteResult:
        raise CalendarSyncError("A feed is read-only.")

    def delete_event(self, config: ConnectionConfig, href: str, etag: str | None) -> None:
        raise CalendarSyncError("A feed is read-only.")
