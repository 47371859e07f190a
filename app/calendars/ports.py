"""The port every kind of external calendar implements, with plain data in and out.

No Flask, no SQLAlchemy: a sync job reads a `ConnectionConfig` from the
database, calls the adapter outside any transaction (network I/O), and hands
the `FetchResult` to the store. Write-back calls `write_event`/`delete_event`
with a `WrittenEvent`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from app.calendars.busy import BusyInterval
from app.calendars.errors import CalendarAuthError, CalendarSyncError

__all__ = ["CalendarAuthError", "CalendarSyncError"]  # (with the port's own names below)


@dataclass(frozen=True)
class SourceConfig:
    id: str
    external_id: str
    name: str
    blocks_time: bool
    is_destination: bool
    sync_token: str | None = None
    ctag: str | None = None
    etags: dict[str, list[str]] = field(default_factory=dict)  # href -> [etag, uid]


@dataclass(frozen=True)
class ConnectionConfig:
    id: str
    kind: str
    zone: ZoneInfo
    url: str | None
    username: str | None
    password: str | None
    cursor: dict
    sources: tuple[SourceConfig, ...]
    window_start: datetime
    window_end: datetime
    full: bool  # ignore sync tokens and etags: fetch everything in the window
    own_uids: frozenset[str] = frozenset()
    self_addresses: frozenset[str] = frozenset()
    credentials: dict = field(default_factory=dict)  # OAuth tokens (google); the adapter may refresh them


@dataclass
class SourceChanges:
    """What one fetch learnt about one source.

    `full`: `intervals` is the complete busy set of the window (rows not in it go).
    Otherwise `changed` maps an event UID to its complete new intervals ([] = gone).
    """

    external_id: str  # the source's external id (its collection URL, "feed", ...)
    full: bool
    intervals: list[BusyInterval] = field(default_factory=list)
    changed: dict[str, list[BusyInterval]] = field(default_factory=dict)
    sync_token: str | None = None
    ctag: str | None = None
    etags: dict[str, list[str]] | None = None


@dataclass
class FetchResult:
    sources: list[SourceChanges] = field(default_factory=list)
    cursor: dict | None = None  # new connection-level cursor (feed ETag / Last-Modified)
    discovered: list[tuple[str, str]] | None = None  # (external_id, name) of every calendar seen
    not_modified: bool = False


@dataclass(frozen=True)
class WrittenEvent:
    """The event Bookwell writes for one booking: no attendees, no organizer, no health details."""

    uid: str
    start: datetime
    end: datetime
    summary: str
    status: str  # CONFIRMED or TENTATIVE
    sequence: int
    location: str = ""


@dataclass(frozen=True)
class WriteResult:
    href: str
    etag: str | None


class CalendarPort(Protocol):
    def fetch_changes(self, config: ConnectionConfig) -> FetchResult: ...

    def write_event(self, config: ConnectionConfig, destination: SourceConfig, event: WrittenEvent,
                    href: str | None, etag: str | None) -> WriteResult: ...

    def delete_event(self, config: ConnectionConfig, href: str, etag: str | None) -> None: ...
