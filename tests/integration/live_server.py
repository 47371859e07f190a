"""A real gunicorn server on a fresh database of one backend, seeded with the demo clinic,
plus the small HTTP and SQL helpers the concurrency tests and bench/booking.py share.

The server is the production shape: gunicorn, several worker processes with threads
each, so concurrent requests really race in different processes against one database.
"""
from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from subprocess import Popen
from typing import Any
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import bindparam, create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.types import Uuid

from app import create_app
from app.demo_seed import DEMO_PASSWORD, DOMAIN, seed_demo
from app.extensions import db
from app.models.base import UTCDateTime
from tests.conftest import _config
from tests.processes import free_port, process_env, spawn, stop, wait_until_serving

OCCUPYING = ("held", "pending", "confirmed")
PATIENT = f"patient@{DOMAIN}"
ADMIN = f"admin@{DOMAIN}"


def seed(database_url: str, redis_url: str) -> None:
    """Write the demo clinic into a migrated, empty database."""
    app = create_app(_config(database_url, redis_url))
    with app.app_context():
        seed_demo()
        db.engine.dispose()


@dataclass
class LiveServer:
    backend: str
    database_url: str
    base_url: str
    process: Popen
    log: Path
    _engine: Engine | None = field(default=None, repr=False)

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def engine(self) -> Engine:
        """A plain engine on the server's database, for assertions (no app, no ORM)."""
        if self._engine is None:
            self._engine = create_engine(self.database_url)
        return self._engine

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        stop(self.process)
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def start_live_server(backend: str, database_url: str, redis_url: str, log_dir: Path, *, workers: int = 3,
                      threads: int = 8, seeded: bool = False, app_spec: str = "wsgi:app",
                      **extra_env: str) -> LiveServer:
    """Seed the demo clinic into `database_url` (unless `seeded`), then start gunicorn on a free port
    and wait for it (`app_spec`: the WSGI app gunicorn loads). Call it from one thread at a time unless `seeded`: building an app in two
    threads at once trips CPython 3.11's non-thread-safe AST state (gh-106905)."""
    if not seeded:
        seed(database_url, redis_url)
    port = free_port()
    log = Path(log_dir) / f"live-{backend}-{port}.log"
    env = process_env(database_url, redis_url, RATELIMIT_ENABLED="false", HORIZON_DAYS="14", **extra_env)
    process = spawn(
        [sys.executable, "-m", "gunicorn", "--worker-class", "app.ops.server.ThreadWorker", "--workers", str(workers),
         "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--timeout", "60",
         # gunicorn 27's control socket has one default path per user: two live servers at once
         # (this one and the browser suite's) would fight over it.
         "--no-control-socket", app_spec],
        env, log,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base_url + "/healthz", process, log, timeout=60)
    except BaseException:
        stop(process)
        raise
    return LiveServer(backend=backend, database_url=database_url, base_url=base_url, process=process, log=log)


@contextmanager
def live_server(backend: str, database_url: str, redis_url: str, log_dir: Path, **kwargs: Any) -> Iterator[LiveServer]:
    server = start_live_server(backend, database_url, redis_url, log_dir, **kwargs)
    try:
        yield server
    finally:
        server.stop()


# --- HTTP helpers ------------------------------------------------------------------------------

def session(pool: int = 64) -> requests.Session:
    """A requests session whose connection pool is large enough for `pool` concurrent threads."""
    http = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=pool, pool_maxsize=pool)
    http.mount("http://", adapter)
    return http


def token(server: LiveServer, email: str = PATIENT, password: str = DEMO_PASSWORD) -> str:
    response = requests.post(server.url("/api/v1/auth/token"), json={"email": email, "password": password},
                             timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def headers(bearer: str | None = None, key: str | None = None) -> dict[str, str]:
    out = {"Idempotency-Key": key or uuid.uuid4().hex}
    if bearer:
        out["Authorization"] = f"Bearer {bearer}"
    return out


def providers(server: LiveServer) -> dict[str, dict]:
    """Active providers by display name."""
    response = requests.get(server.url("/api/v1/providers"), timeout=30)
    assert response.status_code == 200, response.text
    return {p["name"]: p for p in response.json()["providers"]}


def appointment_types(server: LiveServer, provider_id: str | None = None) -> dict[str, dict]:
    """Bookable types by name."""
    params = {"provider_id": provider_id} if provider_id else {}
    response = requests.get(server.url("/api/v1/appointment-types"), params=params, timeout=30)
    assert response.status_code == 200, response.text
    return {t["name"]: t for t in response.json()["appointment_types"]}


def open_slots(server: LiveServer, type_id: str, provider_id: str, day: date, http=requests) -> list[dict]:
    """Every open slot of a provider and type on one local day (`X-Exposure-Variant: all`)."""
    response = http.get(server.url("/api/v1/slots"), headers={"X-Exposure-Variant": "all"}, timeout=30,
                        params={"appointment_type_id": type_id, "provider_id": provider_id, "date": day.isoformat()})
    assert response.status_code == 200, response.text
    return response.json()["slots"]


def local_days(tz: str, first_offset: int, last_offset: int, weekdays: set[int]) -> list[date]:
    """Local dates today+first_offset .. today+last_offset (inclusive) whose ISO weekday is in `weekdays`."""
    today = datetime.now(ZoneInfo(tz)).date()
    days = (today + timedelta(days=n) for n in range(first_offset, last_offset + 1))
    return [d for d in days if d.isoweekday() in weekdays]


# --- SQL helpers (plain connections, typed binds so UUIDs work on SQLite and PostgreSQL) -------

def live_bookings_at(server: LiveServer, provider_id: str, start: datetime) -> list[dict]:
    query = text("SELECT id, seat, status FROM bookings WHERE provider_id = :provider AND start_at = :start "
                 "AND status IN ('held', 'pending', 'confirmed')").bindparams(
        bindparam("provider", type_=Uuid()), bindparam("start", type_=UTCDateTime()),
    ).columns(id=Uuid())
    with server.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query, {"provider": uuid.UUID(provider_id),
                                                                   "start": start})]


def bookings_by_ids(server: LiveServer, ids: list[str]) -> list[dict]:
    if not ids:
        return []
    query = text("SELECT id, provider_id, start_at, status FROM bookings WHERE id IN :ids").bindparams(
        bindparam("ids", expanding=True, type_=Uuid()),
    ).columns(id=Uuid(), provider_id=Uuid(), start_at=UTCDateTime())
    with server.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query, {"ids": [uuid.UUID(i) for i in ids]})]


def overlapping_pairs(server: LiveServer, provider_id: str, exclude_type_ids: list[str] = ()) -> list[dict]:
    """Pairs of occupying bookings of one provider whose blocks (visit plus buffers) overlap."""
    excluded = ""
    params: dict[str, Any] = {"provider": uuid.UUID(provider_id)}
    binds = [bindparam("provider", type_=Uuid())]
    if exclude_type_ids:
        excluded = "AND a.appointment_type_id NOT IN :excluded AND b.appointment_type_id NOT IN :excluded"
        binds.append(bindparam("excluded", expanding=True, type_=Uuid()))
        params["excluded"] = [uuid.UUID(t) for t in exclude_type_ids]
    query = text(f"""
        SELECT a.id AS a_id, b.id AS b_id, a.block_start_at AS a_start, a.block_end_at AS a_end,
               b.block_start_at AS b_start, b.block_end_at AS b_end
        FROM bookings a JOIN bookings b
          ON a.provider_id = b.provider_id AND a.id < b.id
         AND a.block_start_at < b.block_end_at AND b.block_start_at < a.block_end_at
        WHERE a.provider_id = :provider
          AND a.status IN ('held', 'pending', 'confirmed') AND b.status IN ('held', 'pending', 'confirmed')
          {excluded}
    """).bindparams(*binds).columns(a_id=Uuid(), b_id=Uuid())
    with server.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query, params)]


def count_occupying(server: LiveServer, provider_id: str) -> int:
    query = text("SELECT count(*) FROM bookings WHERE provider_id = :provider "
                 "AND status IN ('held', 'pending', 'confirmed')").bindparams(bindparam("provider", type_=Uuid()))
    with server.engine.connect() as conn:
        return conn.execute(query, {"provider": uuid.UUID(provider_id)}).scalar_one()
