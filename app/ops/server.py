"""The gunicorn worker Bookwell runs: gthread, with liveness probes served first.

`gunicorn --worker-class app.ops.server.ThreadWorker ...` behaves like `gthread`, except
that a connection whose pending request is `GET /healthz` (peeked, not read) goes to the
front of the worker's queue instead of behind every request waiting for a thread. Under
a burst of holds every thread of a worker can be busy with writers queueing at the
writer gate (app/database.py); a probe then waited for all of them (p50 0.5-0.8 s on
SQLite with 16 clients holding) and a liveness check would restart a healthy server.
Now it waits for the next thread that frees up. See docs/performance.md.
"""
from __future__ import annotations

import queue
import socket
import threading
from collections import deque
from concurrent import futures

from gunicorn.workers import gthread

PROBES = (b"GET /healthz ", b"GET /healthz?", b"HEAD /healthz ")


class _FrontQueue:
    """The work queue of `PriorityThreadPool`: FIFO, except the one item submitted first."""

    def __init__(self) -> None:
        self._items: deque = deque()
        self._ready = threading.Condition(threading.Lock())
        self.front_next = False  # set around one submit() by PriorityThreadPool.submit_first

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        with self._ready:
            if self.front_next and item is not None:
                self._items.appendleft(item)
            else:
                self._items.append(item)
            self._ready.notify()

    def get(self, block: bool = True, timeout: float | None = None):
        with self._ready:
            if not block:
                if not self._items:
                    raise queue.Empty
                return self._items.popleft()
            if not self._ready.wait_for(lambda: self._items, timeout):
                raise queue.Empty
            return self._items.popleft()

    def get_nowait(self):
        return self.get(block=False)

    def empty(self) -> bool:
        with self._ready:
            return not self._items


class PriorityThreadPool(futures.ThreadPoolExecutor):
    """A ThreadPoolExecutor whose `submit_first` jumps the queue."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers)
        self._work_queue = _FrontQueue()  # before any thread exists: they are made on submit

    def submit_first(self, fn, /, *args, **kwargs) -> futures.Future:
        # submit() is only ever called from the worker's main loop, one at a time.
        self._work_queue.front_next = True
        try:
            return self.submit(fn, *args, **kwargs)
        finally:
            self._work_queue.front_next = False


def is_probe(conn) -> bool:
    """Whether the bytes waiting on the connection start a liveness probe (nothing is read)."""
    try:
        head = conn.sock.recv(16, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError, OSError):
        return False
    return head.startswith(PROBES)


class ThreadWorker(gthread.ThreadWorker):
    """gthread with probes first (see the module docstring)."""

    def get_thread_pool(self) -> PriorityThreadPool:
        return PriorityThreadPool(max_workers=self.cfg.threads)

    def enqueue_req(self, conn) -> None:
        if not isinstance(self.tpool, PriorityThreadPool) or not is_probe(conn):
            return super().enqueue_req(conn)
        future = self.tpool.submit_first(self.handle, conn)
        future.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))
