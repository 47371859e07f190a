"""Engine set-up and the write-transaction helper services use.

SQLite follows SQLAlchemy's documented pysqlite recipe: the driver's own
transaction handling is switched off and we emit BEGIN ourselves, so that
`write_transaction()` can take SQLite's write lock up front with BEGIN
IMMEDIATE (a deferred transaction that upgrades to a writer under WAL fails
with SQLITE_BUSY instead of waiting). Every connection gets WAL,
busy_timeout and foreign keys.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.extensions import db

_begin_immediate: ContextVar[bool] = ContextVar("sqlite_begin_immediate", default=False)


def configure_engine(engine: Engine, busy_timeout_ms: int) -> None:
    if engine.dialect.name != "sqlite":
        return

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
    token = _begin_immediate.set(True)
    try:
        with session.begin():
            yield
    except BaseException:
        session.info.pop(_AFTER_COMMIT, None)
        raise
    finally:
        _begin_immediate.reset(token)
    for callback in session.info.pop(_AFTER_COMMIT, []):
        callback()


_AFTER_COMMIT = "bookwell_after_commit"


def after_commit(key: str, callback) -> None:
    """Run `callback()` once after the current write transaction commits (not on rollback).

    For work that needs SQL or the network after the data is durable, such as
    publishing the outbox; SQLAlchemy's own after_commit event may not emit SQL.
    """
    callbacks = db.session().info.setdefault(_AFTER_COMMIT, [])
    if all(getattr(cb, "_bookwell_key", None) != key for cb in callbacks):
        callback._bookwell_key = key
        callbacks.append(callback)
