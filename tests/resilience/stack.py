"""A whole Bookwell in real processes that the resilience tests break on purpose.

One stack per backend: a Redis server of its own (the embedded one, with its
append-only file, in a folder of the test), a real gunicorn server
(tests/integration/live_server.py), a real RQ worker and the real cron process
(tests/processes.py), all sending mail to the real SMTP sink (tests/smtp_sink.py).
Every part can be killed with SIGKILL and started again; `Traffic` books as guests
through the JSON API while that happens, and `Outcome` checks the invariants from
the database and the sink afterwards.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import bindparam, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import Uuid

from app import embedded_redis
from tests.integration import live_server as ls
from tests.processes import spawn, stop
from tests.smtp_sink import SmtpSink

LEASE_SECONDS = 4  # a send whose worker died is retried this soon
SWEEP_SECONDS = 2  # relay and notification sweep cadence of the cron process under test
CONFIRMED_SUBJECT = " is confirmed"  # templates/notifications/en/confirmed.subject


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        try:
            if (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) == "Z":
                return  # a zombie: dead, waiting for its parent
        except OSError:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} still alive after SIGKILL")
        time.sleep(0.02)


@dataclass
class Stack:
    backend: str
    database_url: str
    tmp: Path
    sink: SmtpSink
    redis_dir: Path = field(init=False)
    redis_url: str = field(init=False)
    server: ls.LiveServer | None = None
    worker: subprocess.Popen | None = None
    cron: subprocess.Popen | None = None
    logs: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.redis_dir = self.tmp / "redis"
        self.redis_url = embedded_redis.ensure_running(self.redis_dir)

    def extra_env(self) -> dict[str, str]:
        return {"MAIL_BACKEND": "smtp", "SMTP_HOST": self.sink.host, "SMTP_PORT": str(self.sink.port),
                "SMTP_STARTTLS": "false", "SMTP_USERNAME": "", "SMS_BACKEND": "file",
                "NOTIFICATION_LEASE_SECONDS": str(LEASE_SECONDS), "OUTBOX_SWEEP_SECONDS": str(SWEEP_SECONDS),
                "LOG_LEVEL": "WARNING"}

    # --- starting -----------------------------------------------------------------------------

    def start(self) -> Stack:
        self.server = ls.start_live_server(self.backend, self.database_url, self.redis_url, self.tmp,
                                           workers=2, threads=8, **self.extra_env())
        self.logs.append(self.server.log)
        self.start_worker()
        self.start_cron()
        return self

    def _env(self) -> dict[str, str]:
        from tests.processes import process_env

        return process_env(self.database_url, self.redis_url, RATELIMIT_ENABLED="false", HORIZON_DAYS="14",
                           **self.extra_env())

    def start_worker(self) -> None:
        log = self.tmp / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        self.worker = spawn([sys.executable, "-m", "workers.worker"], self._env(), log)

    def start_cron(self) -> None:
        log = self.tmp / f"cron-{len(self.logs)}.log"
        self.logs.append(log)
        self.cron = spawn([sys.executable, "-m", "workers.cron"], self._env(), log)

    def start_redis(self) -> None:
        embedded_redis.ensure_running(self.redis_dir)

    # --- breaking -----------------------------------------------------------------------------

    def kill_redis(self, lose_disk: bool = False) -> None:
        """kill -9 the Redis server; with `lose_disk` its files go too (the machine is gone)."""
        pid = int((self.redis_dir / "redis.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        _gone(pid)
        if lose_disk:
            for name in ("redis.aof", "redis.rdb"):
                (self.redis_dir / name).unlink(missing_ok=True)

    def kill_worker(self) -> None:
        """SIGKILL the worker process (and its process group). Notification jobs run in the
        worker process and die with it (their lease runs out, the sweep sends again); a
        forked work horse runs in a group of its own and finishes the job it has."""
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(10)

    def stop_worker(self) -> None:
        if self.worker is not None:
            stop(self.worker, timeout=30)

    def kill_cron(self) -> None:
        if self.cron is not None and self.cron.poll() is None:
            os.killpg(self.cron.pid, signal.SIGKILL)
            self.cron.wait(10)

    def kill_web_worker(self, rng: random.Random) -> int | None:
        """SIGKILL one gunicorn worker process; the gunicorn master starts a new one."""
        pids = children(self.server.process.pid)
        if not pids:
            return None
        pid = rng.choice(sorted(pids))
        os.kill(pid, signal.SIGKILL)
        return pid

    def alive(self) -> dict[str, bool]:
        return {"worker": self.worker is not None and self.worker.poll() is None,
                "cron": self.cron is not None and self.cron.poll() is None,
                "web": self.server is not None and self.server.process.poll() is None}

    def log_tail(self, chars: int = 2500) -> str:
        out = []
        for log in self.logs:
            try:
                out.append(f"--- {log.name}:\n{log.read_text(errors='replace')[-chars:]}")
            except OSError:
                pass
        return "\n".join(out)

    def stop(self) -> None:
        for process in (self.cron, self.worker):
            if process is not None:
                stop(process)
        if self.server is not None:
            self.server.stop()
        embedded_redis.stop(self.redis_dir)


# --- traffic --------------------------------------------------------------------------------------

@dataclass
class Booked:
    booking_id: str
    email: str
    confirmed: bool = False  # the client saw 200 on confirm


class Traffic:
    """Guests booking through the JSON API from a few threads: hold, then confirm.

    Each booking uses its own guest address, so every confirmation email names its
    booking. Connection errors (a killed web worker) are part of the game: the
    booking's fate is then read from the database, not from the answer.
    """

    def __init__(self, server: ls.LiveServer, slots: list[str], seed: int, threads: int = 3) -> None:
        self.server, self.slots, self.threads = server, list(slots), threads
        random.Random(seed).shuffle(self.slots)
        self.lock = threading.Lock()
        self.booked: list[Booked] = []
        self.answers: Counter = Counter()
        self.stop_event = threading.Event()
        self._workers: list[threading.Thread] = []
        self._tag = uuid.uuid4().hex[:6]

    def confirmed_count(self) -> int:
        with self.lock:
            return sum(1 for b in self.booked if b.confirmed)

    def _next_slot(self) -> str | None:
        with self.lock:
            return self.slots.pop() if self.slots else None

    def _post(self, http: requests.Session, path: str, body: dict) -> requests.Response | None:
        try:
            response = http.post(self.server.url(path), json=body, headers=ls.headers(), timeout=30)
        except requests.RequestException:
            with self.lock:
                self.answers["connection error"] += 1
            return None
        with self.lock:
            self.answers[response.status_code] += 1
        return response

    def _run(self, index: int) -> None:
        http = requests.Session()
        number = 0
        while not self.stop_event.is_set():
            slot = self._next_slot()
            if slot is None:
                return
            number += 1
            http.cookies.clear()  # one guest per booking, not one browser session for all
            email = f"guest-{self._tag}-{index}-{number}@example.com"
            held = self._post(http, "/api/v1/bookings", {"slot_id": slot, "name": f"Guest {index}", "email": email})
            if held is None or held.status_code != 201:
                continue
            booking = Booked(held.json()["id"], email)
            with self.lock:
                self.booked.append(booking)
            confirmed = self._post(http, f"/api/v1/bookings/{booking.booking_id}/confirm",
                                   {"hold_token": held.json()["hold_token"]})
            if confirmed is not None and confirmed.status_code == 200:
                booking.confirmed = True

    def start(self) -> Traffic:
        for index in range(self.threads):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def wait_until(self, confirmed: int, timeout: float = 90.0) -> None:
        """Block until the clients saw `confirmed` confirmations (or ran out of slots)."""
        deadline = time.monotonic() + timeout
        while self.confirmed_count() < confirmed and any(t.is_alive() for t in self._workers):
            assert time.monotonic() < deadline, f"only {self.confirmed_count()} confirmations in {timeout}s"
            time.sleep(0.02)

    def finish(self, timeout: float = 60.0, drain: bool = False) -> None:
        """Stop the clients (or, with `drain`, let them book every remaining slot first)."""
        if not drain:
            self.stop_event.set()
        for thread in self._workers:
            thread.join(timeout)


def open_slots(server: ls.LiveServer, count: int) -> list[str]:
    """Ids of `count` open one-to-one consultation slots of Dr. Weber, 2+ days ahead."""
    weber = ls.providers(server)["Dr. Anna Weber"]["id"]
    consult = ls.appointment_types(server)["General consultation"]["id"]
    found: list[str] = []
    for day in ls.local_days("Europe/Berlin", 2, 14, {1, 2, 3, 4, 5}):
        free_from = ""
        for slot in ls.open_slots(server, consult, weber, day):
            if slot["capacity_left"] == 1 and slot["start"] > free_from:  # past the last one's buffer: no 409s
                found.append(slot["id"])
                free_from = slot["end"]
        if len(found) >= count:
            return found[:count]
    raise AssertionError(f"only {len(found)} open slots")


# --- outcome --------------------------------------------------------------------------------------

@dataclass
class Outcome:
    confirmed_in_db: set[str]  # booking ids
    emails_by_booking: dict[str, int]  # confirmation emails received, per confirmed booking
    stray: list[str]  # confirmation emails for no confirmed booking of ours

    @property
    def sent(self) -> int:
        return sum(1 for n in self.emails_by_booking.values() if n >= 1)

    @property
    def duplicates(self) -> dict[str, int]:
        return {b: n for b, n in self.emails_by_booking.items() if n > 1}

    def summary(self) -> str:
        return (f"{self.sent} of {len(self.confirmed_in_db)} confirmed bookings got their confirmation; "
                f"duplicates {self.duplicates}; stray {len(self.stray)}")


def statuses(server: ls.LiveServer, ids: list[str]) -> dict[str, str]:
    return {str(row["id"]): row["status"] for row in ls.bookings_by_ids(server, ids)}


def outcome(stack: Stack, traffic: list[Booked]) -> Outcome:
    by_email = {b.email: b.booking_id for b in traffic}
    status = statuses(stack.server, [b.booking_id for b in traffic])
    confirmed = {b for b, s in status.items() if s == "confirmed"}
    counts = {b: 0 for b in confirmed}
    stray = []
    for message in stack.sink.messages:
        if CONFIRMED_SUBJECT not in message.subject or message.to not in by_email:
            continue
        booking = by_email[message.to]
        if booking in counts:
            counts[booking] += 1
        else:
            stray.append(message.to)
    return Outcome(confirmed, counts, stray)


def settled(stack: Stack, booking_ids: list[str]) -> bool:
    """Nothing left to do for these bookings: every event handled and every message of theirs
    sent (none pending, none in a sender's hands)."""
    if not booking_ids:
        return True
    ids = [uuid.UUID(b) for b in booking_ids]
    events = text("SELECT count(*) FROM booking_events WHERE handled_at IS NULL AND booking_id IN :ids"
                  ).bindparams(bindparam("ids", expanding=True, type_=Uuid()))
    busy = text("SELECT count(*) FROM notifications WHERE template <> 'reminder' AND status IN ('pending', 'sending') "
                "AND booking_id IN :ids").bindparams(bindparam("ids", expanding=True, type_=Uuid()))
    with stack.server.engine.connect() as conn:
        if conn.execute(busy, {"ids": ids}).scalar_one():
            return False
        try:
            return conn.execute(events, {"ids": ids}).scalar_one() == 0
        except DBAPIError:  # a schema without handled_at (the code before the outbox fix)
            return True


def await_delivery(stack: Stack, traffic: list[Booked], timeout: float = 90.0) -> Outcome:
    """Poll until every confirmed booking has its confirmation and nothing is left in flight,
    or the deadline passes; returns what was reached either way."""
    deadline = time.monotonic() + timeout
    ids = [b.booking_id for b in traffic]
    while True:
        result = outcome(stack, traffic)
        if result.sent == len(result.confirmed_in_db) and settled(stack, ids):
            return result
        if time.monotonic() > deadline:
            return result
        time.sleep(0.1)
