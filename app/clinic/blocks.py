"""A provider's blocked time (availability exceptions with status `blocked`): list, add
over several days at once, edit, delete. Each use case owns its transaction; the slot
triggers recompute the affected days at commit and the change is published on the
provider's live channels (app/availability/triggers.py).

Blocks are wall-clock times on local days of the provider's (first) location, like
the hours. Days before today are refused, and so is a block that has already ended:
the past is not rewritten.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, or_, select

from app.clinic.setup import local_span, refuse_overlapping_exception
from app.database import write_transaction
from app.errors import not_found, validation_error
from app.extensions import db
from app.models import AvailabilityException, Booking, Provider, utcnow

MAX_DAYS = 31


def zone_of(provider: Provider) -> str:
    return provider.locations[0].timezone if provider.locations else provider.timezone


def upcoming(organization_id: uuid.UUID, provider_id: uuid.UUID, now: datetime | None = None,
             limit: int = 200) -> list[AvailabilityException]:
    """Blocks that have not ended yet, soonest first."""
    return list(db.session.scalars(select(AvailabilityException).where(
        AvailabilityException.organization_id == organization_id, AvailabilityException.provider_id == provider_id,
        AvailabilityException.status == "blocked", AvailabilityException.end_at > (now or utcnow()))
        .order_by(AvailabilityException.start_at).limit(limit)))


def _check(day: date, last_day: date, start_time: time, end_time: time, today: date) -> None:
    if day < today:
        raise validation_error({"date": "That day has passed. Choose today or a later day."})
    if last_day < day:
        raise validation_error({"last_day": "The last day must be on or after the first day."})
    if (last_day - day).days >= MAX_DAYS:
        raise validation_error({"last_day": f"Block at most {MAX_DAYS} days at once; for longer, request time off."})
    if end_time <= start_time:  # one day per block: an end before the start is a typo, not an overnight block
        raise validation_error({"end_time": "The end must be after the start on the same day."})


def _spans(provider: Provider, first: date, last: date, start_time: time, end_time: time,
           now: datetime) -> list[tuple[datetime, datetime]]:
    spans = [local_span(first + timedelta(days=i), start_time, end_time, zone_of(provider))
             for i in range((last - first).days + 1)]
    if spans and spans[-1][1] <= now:
        raise validation_error({"end_time": "That time has already passed."})
    return [(max(start, now) if start < now < end else start, end) for start, end in spans if end > now]


def _provider(organization_id: uuid.UUID, provider_id: uuid.UUID) -> Provider:
    provider = db.session.get(Provider, provider_id)
    if provider is None or provider.organization_id != organization_id:
        raise not_found("provider")
    return provider


def add_blocks(organization_id: uuid.UUID, provider_id: uuid.UUID, *, first_day: date, last_day: date | None,
               start_time: time, end_time: time, reason: str | None, created_by_id: uuid.UUID | None,
               today: date, now: datetime | None = None) -> list[AvailabilityException]:
    """Block the same hours on every day first_day..last_day (one row per day), in one
    transaction: all days or none. 422 for a past day, a reversed span or over 31 days."""
    now = now or utcnow()
    last_day = last_day or first_day
    _check(first_day, last_day, start_time, end_time, today)
    with write_transaction():
        provider = _provider(organization_id, provider_id)
        spans = _spans(provider, first_day, last_day, start_time, end_time, now)
        refuse_overlapping_exception(provider_id, "blocked", spans, "start_time")
        rows = [AvailabilityException(organization_id=organization_id, provider_id=provider_id, status="blocked",
                                      start_at=start, end_at=end, reason=reason, created_by_id=created_by_id)
                for start, end in spans]
        db.session.add_all(rows)
    return rows


def _own_block(organization_id: uuid.UUID, provider_id: uuid.UUID, block_id: uuid.UUID,
               now: datetime) -> AvailabilityException:
    block = db.session.get(AvailabilityException, block_id)
    if (block is None or block.organization_id != organization_id or block.provider_id != provider_id
            or block.status != "blocked"):
        raise not_found("block")
    if block.end_at <= now:
        raise validation_error({"date": "This block has already ended; the past is kept as it was."})
    return block


def update_block(organization_id: uuid.UUID, provider_id: uuid.UUID, block_id: uuid.UUID, *, day: date,
                 start_time: time, end_time: time, reason: str | None, today: date,
                 now: datetime | None = None) -> AvailabilityException:
    """Move a block to other hours (on one day) or change its note."""
    now = now or utcnow()
    _check(day, day, start_time, end_time, today)
    with write_transaction():
        block = _own_block(organization_id, provider_id, block_id, now)
        (start, end), = _spans(_provider(organization_id, provider_id), day, day, start_time, end_time, now)
        refuse_overlapping_exception(provider_id, "blocked", [(start, end)], "start_time", excluding=block.id)
        block.start_at, block.end_at, block.reason = start, end, reason
    return block


def delete_block(organization_id: uuid.UUID, provider_id: uuid.UUID, block_id: uuid.UUID,
                 now: datetime | None = None) -> None:
    """Free the time again (patients can book it at once)."""
    now = now or utcnow()
    with write_transaction():
        db.session.delete(_own_block(organization_id, provider_id, block_id, now))


def visits_inside(blocks: list[AvailabilityException]) -> list[Booking]:
    """Booked (pending or confirmed) visits of the blocks' provider that the blocks overlap:
    a block keeps patients from booking, it does not move who is already booked."""
    if not blocks:
        return []
    overlaps = or_(*[and_(Booking.start_at < b.end_at, Booking.end_at > b.start_at) for b in blocks])
    return list(db.session.scalars(select(Booking).where(
        Booking.provider_id == blocks[0].provider_id, Booking.status.in_(("pending", "confirmed")), overlaps)
        .order_by(Booking.start_at)))
