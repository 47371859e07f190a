"""A throw-away PostgreSQL cluster for the test session (initdb + pg_ctl).

initdb refuses to run as root, so when the tests run as root the cluster
runs as the `postgres` user (created if missing) in a directory it owns.
The server listens only on a unix socket inside that directory.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def find_bin(name: str) -> str | None:
    for candidate in [shutil.which(name), f"/usr/local/bin/{name}",
                      *sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)]:
        if candidate and os.path.exists(candidate):
            return candidate
    return None


class PostgresCluster:
    def __init__(self) -> None:
        self.initdb, self.pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.root = Path(tempfile.mkdtemp(prefix="bookwell-pg-"))
        self.data = self.root / "data"
        self.port = 54329
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            _ensure_postgres_user()
            shutil.chown(self.root, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        os.chmod(self.root, 0o755)

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_user, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        options = (f"-k {self.root} -p {self.port} -c listen_addresses='' -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.root}&port={self.port}"

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host=str(self.root), port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def stop(self) -> None:
        try:
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _ensure_postgres_user() -> None:
    """Create the `postgres` system user once; parallel test processes may race for it."""
    for _ in range(50):
        try:
            pwd.getpwnam("postgres")
            return
        except KeyError:
            if subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=False).returncode == 0:
                return
            time.sleep(0.1)  # the other process holds the passwd lock; look again
    pwd.getpwnam("postgres")
