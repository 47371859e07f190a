"""A real SMTP server on loopback for tests and benchmarks: aiosmtpd in a thread.

    with SmtpSink() as sink:            # or sink = SmtpSink(port).start() ... sink.stop()
        app.config["SMTP_PORT"] = sink.port
        ...
        sink.wait_for(3)                # the first three messages, parsed
        sink.delay = 3.0                # answer each DATA only after 3 s
        sink.data_reply = "451 4.3.0 try again later"   # or "550 ..." (permanent)
        sink.rcpt_reply = "550 5.1.1 no such user"      # refuse every recipient
        sink.data_reply_for["a@example.com"] = "451 ..."  # answer DATA so only for this recipient

A message counts as received only once the server has answered 250 to its DATA,
as a real server would: a client that disconnects while the answer is delayed
(a killed worker) leaves nothing behind. Everything is guarded by one lock, so
the list may be read from the test thread while the server thread appends.
"""
from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cached_property

from aiosmtpd.controller import Controller

from tests.processes import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    at: float  # time.monotonic() when the server accepted it

    @cached_property
    def message(self) -> EmailMessage:
        """Parsed when first read, not while the server answers: parsing with the default
        policy costs milliseconds, and a sink must accept as fast as a real server would
        (bench/notifications.py measures the sender, not the sink)."""
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def calendar(self) -> bytes | None:
        """The text/calendar part's bytes, or None."""
        for part in self.message.walk():
            if part.get_content_type() == "text/calendar":
                return part.get_payload(decode=True)
        return None


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink.rcpt_reply
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        with sink._lock:
            sink._in_data += 1
            sink._data_started += 1
        try:
            if sink.delay:
                await asyncio.sleep(sink.delay)  # cancelled when the client goes away
            reply = sink.data_reply or next(
                (sink.data_reply_for[r] for r in envelope.rcpt_tos if r in sink.data_reply_for), None)
            if reply:
                with sink._lock:
                    sink.refused += 1
                return reply
            raw = envelope.original_content or envelope.content
            if isinstance(raw, str):
                raw = raw.encode("utf-8", "surrogateescape")
            if server.transport is None or server.transport.is_closing():
                return "451 4.4.2 connection lost"  # nobody hears this: not delivered
            item = Received(mail_from=envelope.mail_from, rcpt_tos=tuple(envelope.rcpt_tos), raw=raw,
                            at=time.monotonic())
            with sink._lock:
                sink._messages.append(item)
                sink._cond.notify_all()
            return "250 Message accepted for delivery"
        finally:
            with sink._lock:
                sink._in_data -= 1


class SmtpSink:
    """aiosmtpd on 127.0.0.1:`port` (a free one by default) that keeps what it receives."""

    def __init__(self, port: int | None = None, *, delay: float = 0.0) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.delay = delay
        self.data_reply: str | None = None  # e.g. "451 4.3.0 busy" or "550 5.7.1 rejected"
        self.rcpt_reply: str | None = None  # e.g. "550 5.1.1 no such user"
        self.data_reply_for: dict[str, str] = {}  # recipient -> reply to DATA, for one recipient only
        self.refused = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._messages: list[Received] = []
        self._in_data = 0
        self._data_started = 0
        self._controller: Controller | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> SmtpSink:
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port, ready_timeout=10)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- reading --------------------------------------------------------------------------------

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def count(self) -> int:
        with self._lock:
            return len(self._messages)

    @property
    def in_data(self) -> int:
        """DATA commands the server is answering right now (sleeping in slow mode)."""
        with self._lock:
            return self._in_data

    @property
    def data_started(self) -> int:
        with self._lock:
            return self._data_started

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Block until at least `count` messages arrived; returns them all (possibly more)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"SMTP sink got {len(self._messages)} of {count} messages in {timeout}s: "
                                         f"{[m.subject for m in self._messages]}")
                self._cond.wait(left)
            return list(self._messages)

    def wait_until(self, predicate, timeout: float = 20.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.02)
