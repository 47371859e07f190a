"""How a process waits for SQLite's writer file lock (app/database.py, docs/performance.md
"Fifth pass"): a real flock held through another open file, a fake clock, no sleeps."""
import fcntl
import os

import pytest

from app import database
from app.database import FAST_POLL, FAST_POLL_FOR, SLOW_POLL, WriterGate


class FakeClock:
    """`time` for app.database: sleeping moves the clock; `at(t, action)` runs once the clock passes t."""

    def __init__(self):
        self.now, self.sleeps, self.actions = 0.0, [], []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        for when, action in list(self.actions):
            if self.now >= when:
                self.actions.remove((when, action))
                action()


@pytest.fixture
def held(tmp_path):
    path = tmp_path / "db.sqlite3.writers"
    holder = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another writer process, as far as the gate can tell
    yield str(path), holder
    os.close(holder)


def test_a_waiter_polls_fast_then_backs_off_and_gives_up_at_its_timeout(held, monkeypatch):
    path, _ = held
    clock = FakeClock()
    monkeypatch.setattr(database, "time", clock)
    assert WriterGate(1, path, timeout=1.0)._lock_file() is False
    fast = [pause for pause in clock.sleeps if pause == FAST_POLL]
    assert len(fast) == pytest.approx(FAST_POLL_FOR / FAST_POLL, abs=2)  # every 0.25 ms for the first 0.5 s
    later = clock.sleeps[len(fast):]
    assert later[:3] == [FAST_POLL * 2, FAST_POLL * 4, SLOW_POLL] and set(later[2:]) == {SLOW_POLL}
    assert 1.0 <= clock.now <= 1.0 + 2 * SLOW_POLL


def test_a_waiter_takes_the_lock_within_one_fast_poll_of_its_release(held, monkeypatch):
    path, holder = held
    clock = FakeClock()
    clock.actions.append((0.0201, lambda: fcntl.flock(holder, fcntl.LOCK_UN)))  # a hold's turn ends after ~20 ms
    monkeypatch.setattr(database, "time", clock)
    gate = WriterGate(1, path, timeout=1.0)
    assert gate._lock_file() is True
    assert 0.0201 <= clock.now < 0.0201 + FAST_POLL
    try:
        with pytest.raises(BlockingIOError):  # the gate holds it now
            fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(gate._fd)
