"""The floor under a hold: the real app plus one benchmark-only endpoint, served by gunicorn
as `bench.apps.hold_floor:app` (bench/booking.py section (d)).

`POST /bench/floor/<n>` takes the hold's own request path (JSON body validated as a hold
request, `Idempotency-Key` taken inside the write transaction, the guest actor and its
portal organization, the answer stored in that transaction) and does nothing else but run
`n` trivial statements (`SELECT 1`) in one write transaction. It answers what a hold of
`n` statements would cost if every statement were free for the database and no booking,
engine run, encryption or event were needed. Its rate beside the same run's `/healthz` is
the highest ratio any hold of `n` round trips can reach on this stack and machine.

Never part of the product: only the benchmark imports this module.
"""
from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from app.api import idempotency
from app.api.booking_routes import actor
from app.api.contract import operation
from app.api.schemas import HoldRequest
from app.database import core_execute, write_transaction
from app.extensions import csrf
from app.factory import create_app

floor = Blueprint("bench_floor", __name__, url_prefix="/bench")
csrf.exempt(floor)
_NOTHING = text("SELECT 1")


@floor.post("/floor/<int:statements>")
@operation("Benchmark floor: a hold's request path around n trivial statements", body=HoldRequest,
           status=201, auth="optional", key_in_transaction=True)
def hold_floor(statements: int, body: HoldRequest):
    who = actor()
    answer = {"slot_id": str(body.slot_id), "organization_id": str(who.organization_id)}
    with write_transaction():
        for _ in range(statements):
            core_execute(_NOTHING, {})
        idempotency.answer_in_transaction(201, answer)
    return answer


app = create_app()
app.register_blueprint(floor)
