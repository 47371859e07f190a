"""The gunicorn worker Bookwell runs: gthread, with liveness probes on threads of their own.

`gunicorn --worker-class app.ops.server.ThreadWorker ...` behaves like `gthread`, except
that a connection whose pending request is `GET /healthz` (peeked, not read) is handled
by a small pool of probe threads instead of waiting for one of the request threads.
Under a burst of holds every request thread of a worker can be busy with writers
queueing at the writer gate (app/database.py); a probe queued behind them waited for
all of them (p50 0.5-0.8 s on SQLite with 16 clients holding), and even put at the front
of the queue it still waited for the next hold to finish (p50 ~90 ms, p95 ~0.4 s): a
liveness check would restart a healthy server. See docs/performance.md.
"""
from __future__ import annotations

import socket
from concurrent import futures

from gunicorn.workers import gthread

PROBES = (b"GET /healthz ", b"GET /healthz?", b"HEAD /healthz ")
PROBE_THREADS = 2  # probes are answered from memory: two threads keep one slow client from blocking the next


def is_probe(conn) -> bool:
    """Whether the bytes waiting on the connection start a liveness probe (nothing is read)."""
    try:
        head = conn.sock.recv(16, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError, OSError):
        return False
    return head.startswith(PROBES)


class ThreadWorker(gthread.ThreadWorker):
    """gthread with probes on their own threads (see the module docstring)."""

    probe_pool: futures.ThreadPoolExecutor | None = None

    def enqueue_req(self, conn) -> None:
        if not is_probe(conn):
            return super().enqueue_req(conn)
        if self.probe_pool is None:  # made in the worker process, after the fork
            self.probe_pool = futures.ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="probe")
        future = self.probe_pool.submit(self.handle, conn)
        future.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))
