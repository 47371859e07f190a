"""One request at a time through the Flask test client: SQL statements and CPU per request.

    .venv/bin/python scripts/profile_requests.py [sqlite|postgresql] [--cprofile] [--statements] [--holds]

Seeds the demo clinic into a fresh database (production settings: no contract checks),
then measures N holds on distinct slots, N slot reads (API; 14 distinct queries), the same N
reads again (answers kept by app/availability/read_cache.py) and N finder partials: mean
milliseconds, SQL statements and write transactions per request, and with --cprofile the
functions with the most cumulative time; --statements prints the SQL of one hold, in order;
--holds measures holds only; PROFILE_DUMP=/tmp/x writes each --cprofile run to /tmp/x.<label>
(for pstats, or for grouping by package). A single thread, so the numbers are the cost of
the work itself, without lock waits or CPU contention (bench/ measures those).
"""
from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import event  # noqa: E402

N = 60


from profile_database import profile_database  # noqa: E402


def main() -> None:
    backend = next((a for a in sys.argv[1:] if not a.startswith("--")), "sqlite")
    profile = "--cprofile" in sys.argv
    from app.factory import create_app
    from app.demo_seed import seed_demo
    from app.extensions import db
    from tests.conftest import _config

    with profile_database(backend) as (folder, url, redis_url):
        app = create_app({**_config(url, redis_url, folder / "instance"), "TESTING": False,
                          "API_CONTRACT_CHECKS": False, "LOG_LEVEL": "WARNING"})
        with app.app_context():
            seed_demo()
            engine = db.engine
        statements = Counter()
        trace: list[str] | None = None  # --statements: the SQL of the last hold, in order

        @event.listens_for(engine, "before_cursor_execute")
        def _count(conn, cursor, statement, *args):
            word = statement.split(None, 1)[0].upper()
            statements[word] += 1
            statements["total"] += 1
            if trace is not None:
                trace.append(" ".join(statement.split())[:160])

        client = app.test_client()
        types = {t["name"]: t for t in client.get("/api/v1/appointment-types").get_json()["appointment_types"]}
        providers = {p["name"]: p for p in client.get("/api/v1/providers").get_json()["providers"]}
        video, consult = types["Video follow-up"], types["General consultation"]
        weber = providers["Dr. Anna Weber"]
        today = date.today()
        free = []
        for name in ("Dr. Anna Weber", "Dr. Maya Chen", "Sam Rivera"):
            got = client.get(f"/api/v1/providers/{providers[name]['id']}/availability", query_string={
                "from": (today + timedelta(days=1)).isoformat(), "to": (today + timedelta(days=13)).isoformat(),
                "appointment_type_id": video["id"]}).get_json()["slots"]
            free += got[::4]  # 15-minute visits with buffers: every fourth start does not overlap
        reads = [("/api/v1/slots", {"appointment_type_id": consult["id"], "provider_id": weber["id"],
                                    "date": (today + timedelta(days=i % 14)).isoformat()}, {}) for i in range(N)]
        finder = [("/book", {}, {"HX-Request": "true", "HX-Target": "results"})] * N

        def holds():
            nonlocal trace
            for index, slot in enumerate(free[:N]):
                if "--statements" in sys.argv and index == N - 1:
                    trace = []
                response = client.post("/api/v1/bookings", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
                    "slot_id": slot["id"], "name": f"P {index}", "email": f"p{index}@example.com"})
                assert response.status_code == 201, response.get_data(as_text=True)
            if trace is not None:
                print("\n".join(f"  {i + 1:2} {line}" for i, line in enumerate(trace)))
                trace = None

        def gets(urls):
            def run():
                for path, params, headers in urls:
                    client.cookie_jar.clear() if hasattr(client, "cookie_jar") and client.cookie_jar else None
                    response = client.get(path, query_string=params, headers=headers)
                    assert response.status_code == 200, response.get_data(as_text=True)[:300]
            return run

        client.get("/healthz")
        costs = {}
        for label, run in (("healthz", gets([("/healthz", {}, {})] * N * 5)), ("hold", holds),
                           ("slots", gets(reads)), ("slots again", gets(reads)), ("finder", gets(finder))):
            if "--holds" in sys.argv and label in ("slots", "slots again", "finder"):
                continue
            statements.clear()
            profiler = cProfile.Profile() if profile else None
            began, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            run()
            if profiler:
                profiler.disable()
            count = N * 5 if label == "healthz" else N
            took = (time.perf_counter() - began) / count * 1000
            used = (time.process_time() - cpu) / count * 1000
            costs[label] = used
            per = {k: round(v / N, 1) for k, v in statements.most_common()}
            print(f"{backend} {label}: {took:.1f} ms/request, CPU {used:.1f} ms/request "
                  f"({used / costs['healthz']:.0f} x healthz), SQL per request {per}", flush=True)
            if profiler:
                if os.environ.get("PROFILE_DUMP"):
                    profiler.dump_stats(f"{os.environ['PROFILE_DUMP']}.{label.replace(' ', '_')}")
                stats = pstats.Stats(profiler); stats.sort_stats("cumulative").print_stats(r"/app/|workers/", 45); stats.sort_stats("tottime").print_stats(25); stats.print_callees(
                    os.environ.get("PROFILE_CALLEES", r"load_static|publish_pending|inputs.py:\d+\(<genexpr>"))


if __name__ == "__main__":
    main()
