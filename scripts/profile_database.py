"""A throw-away migrated database and embedded Redis for the profiling scripts."""
from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def profile_database(backend: str) -> Iterator[tuple[Path, str, str]]:
    """Yield (folder, database URL, Redis URL): SQLite in a temporary folder or a database in a
    throw-away PostgreSQL cluster, migrated to head; everything is stopped afterwards."""
    from app import embedded_redis
    from tests.conftest import _upgrade
    from tests.postgres_cluster import PostgresCluster

    folder = Path(tempfile.mkdtemp(prefix="bookwell-profile-"))
    redis_url = embedded_redis.ensure_running(folder / "redis")
    cluster = None
    try:
        if backend == "postgresql":
            cluster = PostgresCluster()
            cluster.start()
            name = f"prof_{uuid.uuid4().hex[:8]}"
            cluster.execute(f"CREATE DATABASE {name}")
            url = cluster.url(name)
        else:
            url = f"sqlite:///{folder / 'profile.sqlite3'}"
        _upgrade(url)
        yield folder, url, redis_url
    finally:
        if cluster is not None:
            cluster.stop()
        embedded_redis.stop(folder / "redis")
