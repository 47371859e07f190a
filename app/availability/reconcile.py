"""Repair drift and fill the horizon: recompute providers' slots in batches of providers."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from app.availability import fingerprints
from app.availability.batch_refresh import refresh_providers
from app.availability.materialize import horizon
from app.database import write_transaction
from app.extensions import db
from app.models import Provider, utcnow

log = logging.getLogger(__name__)
BATCH = 10  # providers per transaction (and per round of input queries)


@dataclass
class ReconcileReport:
    providers: int = 0
    changed_rows: int = 0
    skipped: int = 0  # providers found as reconcile last left them (app/availability/fingerprints.py)


def reconcile(provider_ids: list[uuid.UUID] | None = None, first_day: date | None = None,
              last_day: date | None = None, full: bool = False, now: datetime | None = None) -> ReconcileReport:
    """Recompute every (or the given) provider on first_day..last_day (default: the horizon).

    Providers go in small batches, one transaction each, so a large clinic
    never holds the write lock for long and a failure leaves earlier batches
    done. New providers are filled from nothing (cold start); days that
    drifted are corrected; rows that match the engine are not written
    (app/availability/batch_refresh.py). A provider whose inputs and rows are
    what the last reconcile of the same range verified, and whose slots the
    clock cannot have changed since, is skipped (app/availability/fingerprints.py);
    `full` recomputes everyone regardless. `now`: the clock (tests).
    """
    now = now or utcnow()
    low, high = horizon(now)
    first_day, last_day = first_day or low, last_day or high
    if provider_ids is None:
        provider_ids = list(db.session.scalars(select(Provider.id).order_by(Provider.id)))
    report = ReconcileReport()
    for batch in range(0, len(provider_ids), BATCH):
        chunk = provider_ids[batch:batch + BATCH]
        known = {} if full else fingerprints.load(chunk)
        with write_transaction():
            result = refresh_providers(chunk, first_day, last_day, now=now, known=known)
        fingerprints.save(result.verified)  # only once the rows they vouch for are committed
        report.changed_rows += result.changed_rows
        report.skipped += result.skipped
        report.providers += len(chunk)
    log.info("reconciled %d providers (%d unchanged, skipped), %d slot rows changed", report.providers,
             report.skipped, report.changed_rows)
    return report
