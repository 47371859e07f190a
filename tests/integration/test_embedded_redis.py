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
