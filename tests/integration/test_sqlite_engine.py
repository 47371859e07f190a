"""SQLite runs with WAL, busy_timeout and foreign keys, and write transactions
take the write lock at BEGIN (BEGIN IMMEDIATE), so writers queue instead of failing."""
from __future__ import annotations

import sqlite3
import threading
import time

from sqlalchemy import event, text

from app import create_app
from app.database import write_transaction
from app.extensions import db
from tests.conftest import _config


def test_connections_use_wal_busy_timeout_and_foreign_keys(make_database, redis_url):
    app = create_app(_config(make_database("sqlite"), redis_url))
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 15000
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        db.engine.dispose()


def test_write_transaction_begins_immediate_and_holds_the_write_lock(make_database, redis_url):
    url = make_database("sqlite")
    app = create_app(_config(url, redis_url))
    statements: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda conn, cursor, statement, *args: statements.append(statement))
        holding, release = threading.Event(), threading.Event()

        def writer():
            with app.app_context(), write_transaction():
                db.session.execute(text("INSERT INTO job_heartbeats (name, last_run_at, runs) "
                                        "VALUES ('lock-test', '2027-01-01 00:00:00', 1)"))
                holding.set()
                release.wait(5)

        thread = threading.Thread(target=writer)
        thread.start()
        assert holding.wait(5)
        assert "BEGIN IMMEDIATE" in statements
        # Another connection cannot start writing while the lock is held...
        other = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0.2, isolation_level=None)
        started = time.monotonic()
        try:
            other.execute("BEGIN IMMEDIATE")
            locked = False
        except sqlite3.OperationalError as exc:
            locked = "locked" in str(exc)
        assert locked and time.monotonic() - started >= 0.15
        release.set()
        thread.join(5)
        # ...and gets it as soon as the first transaction commits.
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        other.close()
        assert db.session.execute(text("SELECT runs FROM job_heartbeats WHERE name='lock-test'")).scalar() == 1
        db.engine.dispose()
