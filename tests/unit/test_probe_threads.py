"""The gunicorn worker: liveness probes never wait for a busy request thread (app/ops/server.py)."""
from __future__ import annotations

import socket
import threading
from concurrent import futures
from types import SimpleNamespace

from app.ops.server import ThreadWorker, is_probe


def test_a_probe_is_answered_while_every_request_thread_is_busy():
    worker = ThreadWorker.__new__(ThreadWorker)  # the parts enqueue_req uses, without a gunicorn arbiter
    worker.tpool = futures.ThreadPoolExecutor(max_workers=1)
    handled, finished = [], threading.Event()
    worker.handle = lambda conn: handled.append(conn.name)
    worker.method_queue = SimpleNamespace(defer=lambda *args: finished.set())
    release = threading.Event()
    pairs = [socket.socketpair() for _ in range(2)]
    try:
        worker.tpool.submit(release.wait)  # the only request thread is taken (a writer waiting its turn)
        pairs[0][0].sendall(b"POST /api/v1/bookings HTTP/1.1\r\n\r\n")
        worker.enqueue_req(SimpleNamespace(sock=pairs[0][1], name="hold"))
        pairs[1][0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        worker.enqueue_req(SimpleNamespace(sock=pairs[1][1], name="probe"))
        assert finished.wait(timeout=10)
        assert handled == ["probe"]  # answered; the hold still waits for the busy thread
        release.set()
        worker.tpool.shutdown(wait=True)
        assert handled == ["probe", "hold"]
    finally:
        release.set()
        worker.probe_pool.shutdown(wait=True)
        for left, right in pairs:
            left.close()
            right.close()




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
