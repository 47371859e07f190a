"""The pure scheduling core: plain values in, slots out.

Nothing here imports Flask or SQLAlchemy; app/availability/ feeds it from the
database. See engine.py for the semantics and exposure.py for slot sampling.
"""
from app.scheduling.types import (
    AppointmentSpec,
    AvailableWindow,
    BlockedInterval,
    Occupancy,
    Slot,
    WeeklyRule,
)

__all__ = ["AppointmentSpec", "AvailableWindow", "BlockedInterval", "Occupancy", "Slot", "WeeklyRule"]
