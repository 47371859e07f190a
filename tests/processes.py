"""Start the project's real processes (CLI, worker, cron, web server) for tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def process_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    from tests.conftest import TEST_SECRET

    env = {k: v for k, v in os.environ.items() if k not in ("FLASK_DEBUG", "REDIS_URL", "DATABASE_URL")}
    env.update({
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": TEST_SECRET,
        "BOOKWELL_INSTANCE_PATH": tempfile.mkdtemp(prefix="bookwell-proc-"),
        "SESSION_COOKIE_SECURE": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # test processes sign in from one address far more often than people do
        # (test_accounts.py tests the sign-in limits themselves)
        "RATELIMIT_SIGN_IN": "10000/minute",
        "RATELIMIT_SIGN_IN_ACCOUNT": "10000/minute",
    })
    env.update(extra)
    return env


def flask_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = open(log, "wb")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not up after {timeout}s:\n{log.read_text()[-3000:]}")
