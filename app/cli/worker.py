"""`flask worker heartbeat`: enqueue the heartbeat job by hand."""
import click
from flask import current_app

from app.redis_client import get_redis

worker_cli = click.Group("worker", help="Background jobs.")


@worker_cli.command("heartbeat")
def heartbeat() -> None:
    from workers.queues import enqueue_heartbeat

    job = enqueue_heartbeat(get_redis(current_app))
    click.echo(f"enqueued {job.id}")
