"""Worker entry point: `python -m workers.worker [queue ...]`.

Builds the Flask app once; each job runs inside its app context. RQ forks a
work horse per job, so the horse drops the database connections it inherited
(they belong to the parent) and opens its own.
"""
from __future__ import annotations

import sys

from rq import Worker

from app.extensions import db
from app.redis_client import get_redis
from workers.app_context import get_app
from workers.queues import ALL


class AppWorker(Worker):
    def perform_job(self, job, queue):
        app = get_app()
        with app.app_context():
            db.engine.dispose(close=False)
            try:
                return super().perform_job(job, queue)
            finally:
                db.session.remove()


def count_failure(job, exc_type, exc_value, traceback) -> bool:
    from app.ops.metrics import JOB_FAILURES

    JOB_FAILURES.labels(job=job.func_name).inc()
    return True  # let RQ's own handling (failed registry, retries) go on


def main(argv: list[str]) -> None:
    app = get_app()
    queues = argv or ALL
    worker = AppWorker(queues, connection=get_redis(app), exception_handlers=[count_failure])
    worker.work(with_scheduler=True)


if __name__ == "__main__":
    main(sys.argv[1:])
