"""External calendar benchmark: `python bench/calendar_sync.py` (or `make bench`).

(a) seconds from an event created in a real Radicale to its slot leaving GET /api/v1/slots,
    with a 2-second poll configured and a real RQ worker syncing          target <= 10 s
(b) sync of a CalDAV calendar with 1,000 events (200 of them weekly series) into busy
    times (a full sync: fetch, rules, store, slot recompute)                target <= 2 s
(c) signed webhook deliveries per second, beside a trivial endpoint (/healthz) in the same run,
    against gunicorn

Everything runs on this machine: a fresh SQLite database seeded with the demo clinic, the
embedded Redis, Radicale on 127.0.0.1 and the production server (gunicorn).
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app import create_app, embedded_redis  # noqa: E402
from app.calendars import connections  # noqa: E402
from app.calendars.sync import sync_connection  # noqa: E402
from app.calendars.webhooks import sign  # noqa: E402
from app.database import write_transaction  # noqa: E402
from app.demo_seed import seed_demo  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import AppointmentType, CalendarConnection, ExternalBusyTime, Provider, utcnow  # noqa: E402
from tests.calendar_servers import make_collection, put_event, radicale_server  # noqa: E402
from tests.conftest import _config, _upgrade  # noqa: E402
from tests.processes import free_port, process_env, spawn, stop, wait_until_serving  # noqa: E402


def ics(uid: str, start: datetime, minutes: int = 60, rrule: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start:%Y%m%dT%H%M%SZ}\r\n"
            f"DTEND:{start + timedelta(minutes=minutes):%Y%m%dT%H%M%SZ}\r\n{rrule}SUMMARY:Busy\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def setup(work: Path):
    redis_url = embedded_redis.ensure_running(work / "redis")
    database_url = f"sqlite:///{work / 'bench.sqlite3'}"
    _upgrade(database_url)
    app = create_app(_config(database_url, redis_url), CALENDAR_ALLOW_PRIVATE_URLS=True, HORIZON_DAYS=60,
                     LOG_LEVEL="ERROR")
    with app.app_context():
        seed_demo()
    return app, database_url, redis_url


def weber(app):
    with app.app_context():
        provider = db.session.scalars(select(Provider).where(Provider.display_name == "Dr. Anna Weber")).one()
        kind = db.session.scalars(select(AppointmentType).where(AppointmentType.name == "General consultation")).one()
        return provider.id, provider.organization_id, kind.id


def open_slots(base: str, provider_id, type_id, day) -> list[dict]:
    response = requests.get(f"{base}/api/v1/slots", params={"provider_id": str(provider_id),
                                                            "appointment_type_id": str(type_id),
                                                            "date": day.isoformat()},
                            headers={"X-Exposure-Variant": "all"}, timeout=10)
    response.raise_for_status()
    return response.json()["slots"]


def bench_event_to_slot(app, env, work: Path, base: str) -> list[float]:
    provider_id, org_id, type_id = weber(app)
    client = base
    results = []
    with radicale_server() as radicale:
        work_cal = make_collection(radicale, "work", "Work")
        with app.app_context():
            created = connections.create_connection(org_id, provider_id, "caldav", url=radicale.url + "/",
                                                    username=radicale.username, password=radicale.password)
            connection_id = created.connection.id
            with write_transaction():
                db.session.get(CalendarConnection, connection_id).poll_seconds = 2
        worker = spawn([sys.executable, "-m", "workers.worker"], env, work / "worker.log")
        try:
            with app.app_context():
                deadline = time.monotonic() + 60
                while db.session.get(CalendarConnection, connection_id).status != "ok":
                    assert time.monotonic() < deadline, (work / "worker.log").read_text()[-2000:]
                    db.session.remove()
                    time.sleep(0.2)
            day = datetime.now(timezone.utc).date() + timedelta(days=2)
            while day.isoweekday() > 5:
                day += timedelta(days=1)
            for round_number in range(5):
                slots = open_slots(client, provider_id, type_id, day)
                slot = slots[len(slots) // 2]
                start = datetime.fromisoformat(slot["start"].replace("Z", "+00:00"))
                put_event(radicale, work_cal, f"bench-{round_number}", ics(f"bench-{round_number}", start, 30))
                began = time.monotonic()
                while any(s["start"] == slot["start"] for s in open_slots(client, provider_id, type_id, day)):
                    if time.monotonic() - began > 60:
                        raise RuntimeError("the slot never left: " + (work / "worker.log").read_text()[-2000:])
                    time.sleep(0.05)
                results.append(time.monotonic() - began)
        finally:
            stop(worker)
        with app.app_context():
            connections.delete_connection(org_id, connection_id)
    return results


def bench_thousand_events(app) -> tuple[float, int]:
    provider_id, org_id, _ = weber(app)
    with radicale_server() as radicale:
        cal = make_collection(radicale, "big", "Big")
        base = datetime.now(timezone.utc).replace(hour=6, minute=0, second=0, microsecond=0) + timedelta(days=1)
        session = requests.Session()
        session.auth = (radicale.username, radicale.password)
        for n in range(1000):
            start = base + timedelta(days=n % 60, minutes=30 * (n % 20))
            rrule = "RRULE:FREQ=WEEKLY;COUNT=12\r\n" if n < 200 else ""
            session.put(f"{cal}ev-{n}.ics", data=ics(f"ev-{n}", start, 30, rrule).encode(),
                        headers={"Content-Type": "text/calendar"}).raise_for_status()
        with app.app_context():
            created = connections.create_connection(org_id, provider_id, "caldav", url=radicale.url + "/",
                                                    username=radicale.username, password=radicale.password)
            began = time.perf_counter()
            outcome = sync_connection(created.connection.id)
            seconds = time.perf_counter() - began
            assert outcome.startswith("ok"), outcome
            count = db.session.query(ExternalBusyTime).filter_by(connection_id=created.connection.id).count()
            connections.delete_connection(org_id, created.connection.id)
    return seconds, count


def start_server(env, work: Path):
    port = free_port()
    server = spawn([sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--threads", "8", "--workers", "2",
                    "--bind", f"127.0.0.1:{port}", "wsgi:app"], env, work / "server.log")
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(base + "/healthz", server, work / "server.log", timeout=180)
    return base, server


def bench_webhooks(app, base: str, seconds: float = 5.0) -> tuple[float, float]:
    provider_id, org_id, _ = weber(app)
    with app.app_context():
        created = connections.create_connection(org_id, provider_id, "webhook")
        hook_id, secret = created.connection.id, created.webhook_secret
    counts = {"webhook": 0, "trivial": 0}
    if True:
        stop_at = time.monotonic() + seconds
        start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=3)

        def deliver(worker_number: int):
            session = requests.Session()
            n = 0
            while time.monotonic() < stop_at:
                body = json.dumps({"delivery_id": f"{worker_number}-{n}", "events": [{
                    "id": f"ev-{worker_number}-{n % 50}", "status": "confirmed",
                    "start": (start + timedelta(hours=n % 50)).isoformat(),
                    "end": (start + timedelta(hours=n % 50, minutes=30)).isoformat()}]}).encode()
                response = session.post(f"{base}/api/v1/calendar/webhooks/{hook_id}", data=body,
                                        headers={"Content-Type": "application/json",
                                                 "X-Bookwell-Signature": sign(secret,
                                                                              int(time.time()), body)})
                assert response.status_code == 200, response.text
                counts["webhook"] += 1
                n += 1

        def trivial():
            session = requests.Session()
            while time.monotonic() < stop_at:
                assert session.get(f"{base}/healthz").status_code == 200
                counts["trivial"] += 1

        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(4)] + [threading.Thread(target=trivial)
                                                                                        for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return counts["webhook"] / seconds, counts["trivial"] / seconds


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bookwell-bench-calendar-"))
    app, database_url, redis_url = setup(work)
    env = process_env(database_url, redis_url, CALENDAR_ALLOW_PRIVATE_URLS="true", LOG_LEVEL="ERROR",
                      MAIL_BACKEND="file", RATELIMIT_ENABLED="false")
    base, server = start_server(env, work)
    try:
        latencies = bench_event_to_slot(app, env, work, base)
        print(f"(a) Radicale event -> slot gone from /api/v1/slots, 2 s poll: median {statistics.median(latencies):.1f} s, "
              f"max {max(latencies):.1f} s over {len(latencies)} events (target <= 10 s)")
        seconds, rows = bench_thousand_events(app)
        print(f"(b) full sync of 1,000 events (200 weekly series) -> {rows} busy times: {seconds:.2f} s "
              f"(target <= 2 s)")
        hooks, trivial = bench_webhooks(app, base)
        print(f"(c) signed webhook deliveries: {hooks:.0f}/s beside /healthz {trivial:.0f}/s "
              f"(ratio {hooks / trivial:.2f}; gunicorn 2 workers x 8 threads, SQLite)")
    finally:
        stop(server)
        embedded_redis.stop(work / "redis")


if __name__ == "__main__":
    main()
