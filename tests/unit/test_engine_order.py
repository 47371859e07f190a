"""The engine sorts with a key for speed; it must be exactly Slot's own order."""
from __future__ import annotations

import random
from dataclasses import fields
from datetime import datetime, timedelta, timezone

from app.scheduling import engine
from app.scheduling.types import Slot


def test_the_sort_key_is_slots_own_order():
    compared = tuple(f.name for f in fields(Slot) if f.compare)
    probe = Slot(start=datetime(2027, 1, 1, tzinfo=timezone.utc), end=datetime(2027, 1, 1, 1, tzinfo=timezone.utc),
                 location_id="l", room_id=None, local_date=None, capacity=1, capacity_left=1, sort_key="k")
    assert engine._SLOT_ORDER(probe) == tuple(getattr(probe, name) for name in compared)

    rng = random.Random(7)
    base = datetime(2027, 3, 1, tzinfo=timezone.utc)
    slots = [Slot(start=base + timedelta(minutes=15 * rng.randrange(8)),
                  end=base + timedelta(minutes=15 * rng.randrange(8, 12)), location_id=rng.choice("ab"),
                  room_id=None, local_date=None, capacity=1, capacity_left=1, sort_key=rng.choice(["a/None", "b/r"]))
             for _ in range(200)]
    assert sorted(slots, key=engine._SLOT_ORDER) == sorted(slots)
