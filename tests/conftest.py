"""Shared fixtures: one real Redis and one PostgreSQL cluster per test process
(`make test` runs two processes with pytest-xdist; a module stays on one).

Database tests run once per backend (`sqlite`, `postgresql`). Each backend has
one migrated database and one app; every test runs inside a transaction that
is rolled back, so tests stay independent and cheap. Tests that need real
separate processes (workers, live servers) ask for `fresh_database_url`.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy.orm import scoped_session, sessionmaker

from app import create_app, embedded_redis
from app.extensions import db

REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]
TEST_SECRET = "test-secret-key-not-for-production"


@pytest.fixture(scope="session")
def test_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="bookwell-tests-"))


@pytest.fixture(scope="session")
def redis_url(test_root):
    folder = test_root / "redis"
    url = embedded_redis.ensure_running(folder)
    yield url
    embedded_redis.stop(folder)


@pytest.fixture(scope="session")
def postgres():
    from tests.postgres_cluster import PostgresCluster

    try:
        cluster = PostgresCluster()
        cluster.start()
    except Exception as exc:  # noqa: BLE001 - reported below
        if REQUIRE_POSTGRES:
            pytest.fail(f"REQUIRE_POSTGRES=1 but PostgreSQL could not start: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    cluster.execute("CREATE DATABASE bookwell_template")
    _upgrade(cluster.url("bookwell_template"))
    yield cluster
    cluster.stop()


def _upgrade(database_url: str) -> None:
    from flask_migrate import upgrade

    app = create_app(_config(database_url, redis_url="redis://unused"))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _config(database_url: str, redis_url: str, instance: Path | None = None) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(instance or Path(tempfile.mkdtemp(prefix="bookwell-instance-"))),
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "LOG_LEVEL": "WARNING",
        "HORIZON_DAYS": 14,  # keeps the seeded fixtures cheap; horizon behaviour has its own tests
        "RATELIMIT_ENABLED": False,  # test_rate_limits.py turns it on
    }


@pytest.fixture(scope="session")
def make_database(request, test_root):
    """Factory: a new, migrated, empty database URL for `backend`."""

    sqlite_template = test_root / "template.sqlite3"

    def make(backend: str) -> str:
        name = f"bw_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":  # migrated once, then copied (as PostgreSQL copies its template)
            if not sqlite_template.exists():
                _upgrade(f"sqlite:///{test_root / 'template-build.sqlite3'}")
                (test_root / "template-build.sqlite3").rename(sqlite_template)
            path = test_root / (name + ".sqlite3")
            shutil.copyfile(sqlite_template, path)
            return f"sqlite:///{path}"
        cluster = request.getfixturevalue("postgres")
        cluster.execute(f"CREATE DATABASE {name} TEMPLATE bookwell_template")
        return cluster.url(name)

    return make


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def app(backend, make_database, redis_url, test_root):
    application = create_app(_config(make_database(backend), redis_url, test_root / f"instance-{backend}"))
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def db_session(app):
    """Bind the app's session to one connection whose transaction is rolled back.

    No app context stays pushed: each test-client request gets its own, as in
    production (a shared context would leak `g`, and the signed-in user, across
    requests). Tests that call services push `app.app_context()` themselves.
    """
    with app.app_context():
        connection = db.engine.connect()
    outer = connection.begin()
    original = db.session
    db.session = scoped_session(
        sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=True)
    )
    try:
        yield db.session
    finally:
        db.session.remove()
        db.session = original
        outer.rollback()
        connection.close()


@pytest.fixture
def client(app, db_session):
    return app.test_client()


@pytest.fixture
def fresh_database_url(backend, make_database) -> str:
    """A committed-for-real database of the current backend, for multi-process tests."""
    return make_database(backend)


def pytest_terminal_summary(terminalreporter):
    """Show that the database tests really ran on both backends."""
    counts: dict[str, dict[str, int]] = {name: {} for name in BACKENDS}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            for name in BACKENDS:
                if f"[{name}" in getattr(report, "nodeid", "") and report.when in ("call", "setup"):
                    if outcome == "passed" and report.when == "setup":
                        continue
                    counts[name][outcome] = counts[name].get(outcome, 0) + 1
    line = "; ".join(
        f"{name}: " + (", ".join(f"{n} {o}" for o, n in sorted(c.items())) or "none") for name, c in counts.items()
    )
    terminalreporter.write_line(f"database tests by backend -- {line}")
