"""Engine set-up and the write-transaction helper services use.

SQLite follows SQLAlchemy's documented pysqlite recipe: the driver's own
transaction handling is switched off and we emit BEGIN ourselves, so that
`write_transaction()` can take SQLite's write lock up front with BEGIN
IMMEDIATE (a deferred transaction that upgrades to a writer under WAL fails
with SQLITE_BUSY instead of waiting). Every connection gets WAL,
busy_timeout and foreign keys.

Writers queue at a gate before they begin (`WriterGate`): at most a few write
transactions of one process run at once, so under a burst of writes the other
threads (reads, /healthz) still find the interpreter and a connection free, and
the waiting writers sleep instead of polling. On SQLite the gate admits one
writer per process and, through an advisory file lock beside the database, one
process at a time: SQLite's own busy handler sleeps in growing steps (up to
100 ms) and wakes writers in no order, which under 16 concurrent holds gave
p95 latencies of seconds; a file lock hands over as soon as it is released.
See docs/performance.md.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.extensions import db

_begin_immediate: ContextVar[bool] = ContextVar("sqlite_begin_immediate", default=False)
_write_hook: ContextVar = ContextVar("write_transaction_hook", default=None)
_writing: ContextVar[bool] = ContextVar("inside_write_transaction", default=False)

# How often a process waiting for SQLite's writer file lock looks again: every 0.25 ms
# for its first 0.5 s (a hold's turn: the lock changes hands every ~20 ms under load, and
# polling every 2 ms left it idle ~1 ms a hand-over, 10-20 % fewer holds), then backing off
# to 2 ms behind a long writer. docs/performance.md, "Fifth pass".
FAST_POLL, FAST_POLL_FOR = 0.00025, 0.5
SLOW_POLL = 0.002


class WriterGate:
    """The bounded writer section of one engine in this process (see the module docstring)."""

    def __init__(self, limit: int, lock_path: str | None, timeout: float):
        self._slots = threading.BoundedSemaphore(limit)
        self._lock_path, self._timeout = lock_path, timeout
        self._fd: int | None = None
        self._pid = 0  # a forked child (an RQ work horse) opens its own: flock belongs to the open file
        self._held = threading.local()

    @contextmanager
    def enter(self) -> Iterator[None]:
        if getattr(self._held, "depth", 0):  # re-entered by the same thread: already inside
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        admitted = self._slots.acquire(timeout=self._timeout)
        locked = admitted and self._lock_file()
        self._held.depth = 1
        try:
            yield  # not admitted in time: go on anyway, the database's own locking decides
        finally:
            self._held.depth = 0
            if locked:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            if admitted:
                self._slots.release()

    def _lock_file(self) -> bool:
        """SQLite only: one writer process at a time (the caller holds the only slot of its process)."""
        if self._lock_path is None:
            return False
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600), os.getpid()
        began = time.monotonic()
        deadline, pause = began + self._timeout, FAST_POLL
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                now = time.monotonic()
                if now > deadline:
                    return False
                time.sleep(pause)
                if now - began > FAST_POLL_FOR:  # a long writer (a reconcile): back off
                    pause = min(pause * 2, SLOW_POLL)


_gates: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def writer_gate(engine: Engine) -> WriterGate | None:
    return _gates.get(engine)


def configure_engine(engine: Engine, busy_timeout_ms: int, writers_per_process: int = 0) -> None:
    """Connection settings (SQLite) and the writer gate; `writers_per_process` 0 means the
    default: 1 on SQLite, 16 on PostgreSQL (a writer waiting for a provider's advisory lock
    keeps its place: a tight bound there starved the short writes, 4 measured ~40 % fewer holds)."""
    timeout = max(busy_timeout_ms, 1000) / 1000
    if engine.dialect.name != "sqlite":
        _gates[engine] = WriterGate(writers_per_process or 16, None, timeout)
        return
    database = engine.url.database
    in_memory = not database or database == ":memory:" or database.startswith("file::memory:")
    _gates[engine] = WriterGate(1, None if in_memory else f"{database}.writers", timeout)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _begin_immediate.get() else "BEGIN")


def core_execute(statement, params: dict):
    """Run a Core statement (a SELECT of plain columns, or DML on a table) on the session's
    connection, skipping the ORM's execution layer (0.1-0.2 ms a statement on the hold path,
    more for DML, docs/performance.md). Pending ORM changes are flushed first, as
    `Session.execute` would; objects in the session do not see what DML changed."""
    session = db.session()
    if session.autoflush:
        session.flush()
    return session.connection().execute(statement, params)


@contextmanager
def write_transaction() -> Iterator[None]:
    """Run the block as one write transaction, committed on success.

    On SQLite the write lock is taken at BEGIN, so concurrent writers queue on
    busy_timeout rather than failing; on PostgreSQL this is a plain
    transaction and services take the row locks they need.
    """
    session = db.session()  # the scoped session's current Session
    if session.in_transaction():
        session.commit()  # end any read snapshot so the write starts fresh
    gate = writer_gate(session.get_bind())
    token, writing = _begin_immediate.set(True), _writing.set(True)
    try:
        with gate.enter() if gate is not None else _nothing():
            with session.begin():
                hook = _write_hook.get()
                if hook is not None:
                    hook()
                yield
    except BaseException:
        session.info.pop(_AFTER_COMMIT, None)
        raise
    finally:
        _begin_immediate.reset(token)
        _writing.reset(writing)
    for callback in session.info.pop(_AFTER_COMMIT, []):
        callback()


_AFTER_COMMIT = "bookwell_after_commit"


@contextmanager
def on_each_write(hook) -> Iterator[None]:
    """Run `hook()` first inside every `write_transaction()` this block (this thread) opens:
    the idempotency key of the request taken in the use case's own transaction."""
    token = _write_hook.set(hook)
    try:
        yield
    finally:
        _write_hook.reset(token)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def after_commit_or_now(key: str, callback) -> None:
    """From a session's after_commit event: run `callback()` after `write_transaction()` has
    left the writer gate (the next writer need not wait for it), before the callbacks queued
    during the transaction (the slot cache versions move before live pages hear of a change);
    now outside one."""
    if _writing.get():
        after_commit(key, callback, first=True)
    else:
        callback()


def after_commit(key: str, callback, *, first: bool = False) -> None:
    """Run `callback()` once after the current write transaction commits (not on rollback).

    For work that needs SQL or the network after the data is durable, such as
    publishing the outbox; SQLAlchemy's own after_commit event may not emit SQL.
    """
    callbacks = db.session().info.setdefault(_AFTER_COMMIT, [])
    if all(getattr(cb, "_bookwell_key", None) != key for cb in callbacks):
        callback._bookwell_key = key
        callbacks.insert(0 if first else len(callbacks), callback)
