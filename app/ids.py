"""UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits; monotonic per process.

Written out because Python 3.11 has no uuid.uuid7 and the generic library is
slow enough to show up when reconcile writes 100,000 slot rows. Within one
millisecond the 12-bit `rand_a` field counts up (RFC 9562, method 1), so ids
made by one process are strictly increasing. The random bits come from the
`random` module (seeded from os.urandom, and reseeded in forked children by
CPython): ids need uniqueness, not secrecy; tokens use `secrets`.
"""
from __future__ import annotations

import random
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    return uuid.UUID(int=uuid7_int())


def uuid7_int() -> int:
    """A UUIDv7 as its 128-bit integer (bulk writers format it themselves: `f"{n:032x}"`)."""
    return uuid7_ints(1)[0]


def uuid7_ints(count: int) -> list[int]:
    """`count` UUIDv7s as integers, strictly increasing, with the clock read and the lock
    taken once (`uuid7_int` is one of them): a bulk writer numbering 14,000 slot rows spent
    ~7 us per id taking them one call at a time."""
    global _last_ms, _counter
    stamps = []
    append = stamps.append
    with _lock:
        ms = time.time_ns() // 1_000_000
        last, counter = _last_ms, _counter
        for _ in range(count):
            if ms > last:
                last, counter = ms, random.getrandbits(9)
            else:
                counter += 1
                if counter > 0xFFF:
                    last, counter = last + 1, 0
            append((last << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62))
        _last_ms, _counter = last, counter
    bits = random.getrandbits
    return [stamp | bits(62) for stamp in stamps]
