"""Account emails in tests: the real RQ jobs the app queued, run in this process,
sending over SMTP to the loopback sink (tests/smtp_sink.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import redis
from rq import Queue

from tests.smtp_sink import Received, SmtpSink
from workers.queues import HIGH

JOB = "workers.jobs.send_account_email"
LINK = re.compile(r"https?://\S+/(?:auth/(?:reset|confirm|email)|manage)/[A-Za-z0-9_.\-]+")


@dataclass
class Outbox:
    app: object
    sink: SmtpSink

    def _queue(self) -> Queue:
        return Queue(HIGH, connection=redis.Redis.from_url(self.app.config["REDIS_URL"]))

    def queued(self) -> list:
        return [job for job in self._queue().jobs if job.func_name == JOB]

    def clear(self) -> None:
        for job in self.queued():
            job.delete()
        self.sink.clear()

    def deliver(self) -> list[Received]:
        """Run every queued account-email job (as a worker would) and return what arrived."""
        before = self.sink.count()
        with self.app.app_context():
            for job in self.queued():
                job.perform()
                job.delete()
        return self.sink.messages[before:]

    @staticmethod
    def link(message: Received) -> str:
        text = message.message.get_body(("plain",)).get_content()
        found = LINK.search(text)
        assert found, text
        return found.group(0)

    @staticmethod
    def path(message: Received) -> str:
        link = Outbox.link(message)
        return "/" + link.split("/", 3)[3]


@pytest.fixture
def outbox(app, monkeypatch):
    with SmtpSink() as sink:
        for key, value in {"MAIL_BACKEND": "smtp", "SMTP_HOST": sink.host, "SMTP_PORT": sink.port,
                           "SMTP_STARTTLS": False, "SMTP_USERNAME": ""}.items():
            monkeypatch.setitem(app.config, key, value)
        box = Outbox(app, sink)
        box.clear()
        yield box
        box.clear()
