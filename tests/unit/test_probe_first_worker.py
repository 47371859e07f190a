"""The gunicorn worker's queue: liveness probes go ahead of queued requests (app/ops/server.py)."""
from __future__ import annotations

import socket
import threading
from types import SimpleNamespace

from app.ops.server import PriorityThreadPool, is_probe


def test_a_probe_submitted_first_runs_before_work_already_queued():
    pool = PriorityThreadPool(max_workers=1)
    release, order = threading.Event(), []
    try:
        busy = pool.submit(release.wait)  # the only thread is taken
        queued = [pool.submit(order.append, f"hold {n}") for n in range(3)]
        probe = pool.submit_first(order.append, "probe")
        release.set()
        for future in (busy, probe, *queued):
            future.result(timeout=10)
    finally:
        pool.shutdown(wait=True)
    assert order == ["probe", "hold 0", "hold 1", "hold 2"]


def test_only_a_waiting_healthz_request_counts_as_a_probe_and_nothing_is_consumed():
    left, right = socket.socketpair()
    try:
        conn = SimpleNamespace(sock=right)
        assert not is_probe(conn)  # nothing sent yet: not a probe, and no blocking
        left.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert is_probe(conn)
        assert right.recv(100).startswith(b"GET /healthz HTTP/1.1")  # peeked, still there
        left.sendall(b"POST /api/v1/bookings HTTP/1.1\r\n\r\n")
        assert not is_probe(conn)
    finally:
        left.close()
        right.close()
