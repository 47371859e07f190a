"""Booking benchmark against a real server: `python bench/booking.py`.

For PostgreSQL and for SQLite, a live gunicorn server (3 workers x 8 threads, as in
tests/integration/live_server.py) on a fresh database seeded with the demo clinic:

(a) baseline: GET /healthz requests per second, 16 concurrent clients, ~5 s
(b) holds per second, 16 concurrent clients, each hold on a distinct, non-overlapping
    slot spread over six providers and two weeks (two extra clinicians are added
    through the admin API so there are enough places), N=400 (cut off at 20 s); the
    ratio to (a) says how much of the server's plain request throughput a hold costs
    Target: >= 0.2 on PostgreSQL, >= 0.1 on SQLite (printed as "of it" beside the ratio).
    Also the CPU each kind of process spent per hold (server, database, these clients;
    from /proc, steadier than rates on a shared machine) beside the CPU a hold may cost
    when the machine's cores deliver the target rate.
    Beside it, a liveness probe (one GET /healthz every 20 ms, as a load balancer's) is
    timed while idle and during the holds: p50/p95 of each and their ratio.
(c) the 50-way race on one capacity-1 slot, over 5 slots: p50/p95 latency of the
    pooled 250 requests (1 winner + 49 SLOT_FULL per slot), and the winners per seat
(d) the floor under (b): a second server of the same shape on the same database, the app
    plus one benchmark-only endpoint (bench/apps/hold_floor.py) that takes a hold's request path
    (body, key, guest, answer stored in the write transaction) around 0 and 15 trivial
    statements (`SELECT 1`) and does nothing else; its rate beside that server's /healthz is
    the best ratio a hold of that many round trips could reach here

The server runs the project's worker class (app.ops.server.ThreadWorker, gthread with
probes first). BENCH_BACKENDS=sqlite (or postgresql) runs one backend; BENCH_WORKERS,
BENCH_THREADS and BENCH_CLIENTS (3, 8, 16) try other shapes of server and load. Figures only,
no assertions. Everything it starts (servers, PostgreSQL cluster, Redis)
is stopped on the way out.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from queue import Empty, SimpleQueue
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from bench.cpu import CpuSplit  # noqa: E402

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "3"))  # the server's shape (BENCH_WORKERS x BENCH_THREADS)
THREADS = int(os.environ.get("BENCH_THREADS", "8"))
BASELINE_SECONDS = 5.0
HOLDS = 400
HOLD_SECONDS_MAX = 20.0
RACE_SLOTS = 5
RACE_SIZE = 50
WARMUP_HOLDS = 6
TARGETS = {"PostgreSQL": 0.2, "SQLite": 0.1}  # holds/s as a share of the same run's /healthz req/s
FLOOR_STATEMENTS = (0, 15)  # (d): trivial statements around the hold's request path (a hold runs ~15)
PROBE_PAUSE = 0.02  # the liveness probe: one GET /healthz at a time, this far apart
IDLE_PROBE_SECONDS = 3.0


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))]


def _code(response: requests.Response) -> str:
    if response.status_code < 400:
        return str(response.status_code)
    try:
        return f"{response.status_code} {response.json()['error']['code']}"
    except (ValueError, KeyError, TypeError):
        return str(response.status_code)


def baseline(server, label: str) -> float:
    """GET /healthz with CLIENTS keep-alive clients for BASELINE_SECONDS; requests per second."""
    url = server.url("/healthz")
    for _ in range(20):  # wake every worker
        requests.get(url, timeout=10)
    counts, failures = [0] * CLIENTS, Counter()
    barrier = threading.Barrier(CLIENTS + 1)
    box = {}

    def client(index: int) -> None:
        http = requests.Session()
        barrier.wait()
        deadline = box["deadline"]
        while time.perf_counter() < deadline:
            response = http.get(url, timeout=30)
            if response.status_code == 200:
                counts[index] += 1
            else:
                failures[response.status_code] += 1
        http.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    box["deadline"] = started + BASELINE_SECONDS
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    rate = sum(counts) / elapsed
    extra = f"; non-200: {dict(failures)}" if failures else ""
    print(f"(a) {label} baseline GET /healthz {rate:.1f} req/s "
          f"({sum(counts)} requests, {CLIENTS} clients, {elapsed:.1f} s){extra}", flush=True)
    return rate


class HealthProbe:
    """One client asking GET /healthz now and then, as a liveness probe does; latencies in seconds."""

    def __init__(self, server):
        self.url, self.samples, self.failures = server.url("/healthz"), [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with requests.Session() as http:
            while not self._stop.is_set():
                began = time.perf_counter()
                try:
                    ok = http.get(self.url, timeout=30).status_code == 200
                except requests.RequestException:
                    ok = False
                self.samples.append(time.perf_counter() - began)
                self.failures += not ok
                self._stop.wait(PROBE_PAUSE)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def p(self, fraction: float) -> float:
        return _percentile(self.samples, fraction) * 1000 if self.samples else float("nan")


def idle_probe(server) -> HealthProbe:
    with HealthProbe(server) as probe:
        time.sleep(IDLE_PROBE_SECONDS)
    return probe


def add_providers(server) -> None:
    """Two more clinicians (one per location, Mon-Fri 08:00-18:00) offering the Video follow-up,
    through the admin API, so that (b) has more than HOLDS distinct places inside the horizon."""
    from tests.integration import live_server as ls

    bearer = ls.token(server, ls.ADMIN)

    def admin() -> dict[str, str]:  # every write carries its own Idempotency-Key
        return ls.headers(bearer)

    providers = ls.providers(server)
    video = ls.appointment_types(server)["Video follow-up"]
    added = []
    for name, near in (("Bench Berlin", "Dr. Anna Weber"), ("Bench New York", "Dr. Maya Chen")):
        location_id = providers[near]["location_ids"][0]
        response = requests.post(server.url("/api/admin/v1/providers"), headers=admin(), timeout=60, json={
            "name": name, "location_ids": [location_id], "timezone": providers[near]["timezone"]})
        response.raise_for_status()
        provider_id = response.json()["id"]
        response = requests.post(server.url("/api/admin/v1/availabilities"), headers=admin(), timeout=60, json={
            "kind": "weekly", "provider_id": provider_id, "location_id": location_id,
            "days_of_week": [1, 2, 3, 4, 5], "start_time": "08:00", "end_time": "18:00"})
        response.raise_for_status()
        added.append(provider_id)
    response = requests.patch(server.url(f"/api/admin/v1/appointment-types/{video['id']}"), headers=admin(),
                              timeout=60, json={"provider_ids": video["provider_ids"] + added})
    response.raise_for_status()


PLAN = {"Dr. Anna Weber": "Video follow-up", "Dr. Maya Chen": "Video follow-up", "Sam Rivera": "Video follow-up",
        "Jonas Fischer": "Physiotherapy session", "Bench Berlin": "Video follow-up",
        "Bench New York": "Video follow-up"}


def distinct_slots(server) -> list[dict]:
    """Hold bodies on open slots whose blocks (visit plus buffers) never overlap, per provider."""
    from tests.integration import live_server as ls

    types = ls.appointment_types(server)
    plan = PLAN
    bodies = []
    for name, provider in ls.providers(server).items():
        kind = types[plan[name]]
        before, after = (timedelta(minutes=kind["buffer_before_minutes"]),
                         timedelta(minutes=kind["buffer_after_minutes"]))
        today = datetime.now(ZoneInfo(provider["timezone"])).date()
        response = requests.get(server.url(f"/api/v1/providers/{provider['id']}/availability"), timeout=60, params={
            "from": (today + timedelta(days=1)).isoformat(), "to": (today + timedelta(days=13)).isoformat(),
            "appointment_type_id": kind["id"]})
        response.raise_for_status()
        last_end = None
        for slot in sorted(response.json()["slots"], key=lambda s: s["start"]):
            start, end = _instant(slot["start"]) - before, _instant(slot["end"]) + after
            if last_end is None or start >= last_end:
                bodies.append({"slot_id": slot["id"], "start": slot["start"], "provider": name})
                last_end = end
    # Interleave providers so that concurrent clients spread over them, as real traffic does.
    by_provider: dict[str, list[dict]] = {}
    for body in bodies:
        by_provider.setdefault(body["provider"], []).append(body)
    mixed = []
    while any(by_provider.values()):
        for queue in by_provider.values():
            if queue:
                mixed.append(queue.pop(0))
    return mixed


def _hold(http: requests.Session, server, slot: dict, index: int, path: str = "/api/v1/bookings") -> requests.Response:
    from tests.integration import live_server as ls

    return http.post(server.url(path), headers=ls.headers(), timeout=60, json={
        "slot_id": slot["slot_id"], "name": f"Bench guest {index}", "email": f"bench{index}@example.com"})


def _database_name(server) -> str | None:
    from sqlalchemy.engine import make_url

    return make_url(server.database_url).database if server.backend == "postgresql" else None


def _post_all(server, slots: list[dict], path: str = "/api/v1/bookings", probe: bool = True):
    """POST a hold body per slot from CLIENTS threads (cut off at HOLD_SECONDS_MAX): outcomes,
    latencies, elapsed seconds, the CPU split and the liveness probe (None unless `probe`)."""
    work: SimpleQueue = SimpleQueue()
    for index, slot in enumerate(slots):
        work.put((index, slot))
    outcomes, latencies = Counter(), []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS + 1)
    box = {}

    def client() -> None:
        http = requests.Session()
        barrier.wait()
        while time.perf_counter() < box["deadline"]:
            try:
                index, slot = work.get_nowait()
            except Empty:
                break
            began = time.perf_counter()
            response = _hold(http, server, slot, 1000 + index, path)
            took = time.perf_counter() - began
            with lock:
                outcomes[_code(response)] += 1
                latencies.append(took)
        http.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    with (HealthProbe(server) if probe else nullcontext()) as liveness, \
            CpuSplit(server.process.pid, _database_name(server)) as cpu:
        started = time.perf_counter()
        box["deadline"] = started + HOLD_SECONDS_MAX
        barrier.wait()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    return outcomes, latencies, elapsed, cpu, liveness


def holds_per_second(server, label: str, slots: list[dict], base_rate: float,
                     idle: HealthProbe | None = None) -> None:
    warm, measured = slots[:WARMUP_HOLDS], slots[WARMUP_HOLDS:WARMUP_HOLDS + HOLDS]
    with requests.Session() as http:
        for index, slot in enumerate(warm):
            _hold(http, server, slot, index)
    outcomes, latencies, elapsed, cpu, probe = _post_all(server, measured)
    created = outcomes.get("201", 0)
    rate = created / elapsed
    ratio, target = rate / base_rate, TARGETS.get(label, 0.1)
    print(f"(b) {label} holds/s {rate:.1f} (baseline {base_rate:.1f} req/s, ratio {ratio:.3f}, target {target}: "
          f"{ratio / target:.2f} of it); {sum(outcomes.values())} holds on distinct slots in {elapsed:.1f} s, "
          f"{CLIENTS} clients, latency p50 {_percentile(latencies, 0.5) * 1000:.0f} ms / "
          f"p95 {_percentile(latencies, 0.95) * 1000:.0f} ms, "
          f"outcomes {dict(outcomes)}", flush=True)
    per, cores = cpu.per(created), os.cpu_count() or 1
    budget = cores * 1000 / (target * base_rate)  # ms of machine CPU a hold may cost at the target rate
    print(f"(b) {label} CPU per hold (ms; this run's processes, probes included): "
          + ", ".join(f"{kind} {ms:.1f}" for kind, ms in per.items())
          + f"; total {sum(per.values()):.1f} beside a budget of {budget:.1f} ms at the target "
          f"({cores} cores / {target * base_rate:.0f} holds/s)", flush=True)
    idle_text = (f"idle p50 {idle.p(0.5):.0f} ms / p95 {idle.p(0.95):.0f} ms ({len(idle.samples)} probes)"
                 if idle else "idle not measured")
    print(f"(b) {label} liveness GET /healthz (one probe every {PROBE_PAUSE * 1000:.0f} ms): {idle_text}; "
          f"during the holds p50 {probe.p(0.5):.0f} ms / p95 {probe.p(0.95):.0f} ms / max {probe.p(1.0):.0f} ms "
          f"({len(probe.samples)} probes, {probe.failures} failed); p95 during/idle "
          f"{probe.p(0.95) / idle.p(0.95) if idle else float('nan'):.1f}x", flush=True)


def same_slot_race(server, label: str, slots: list[dict]) -> None:
    samples, outcomes, winners = [], Counter(), []
    for round_number, slot in enumerate(slots):
        barrier = threading.Barrier(RACE_SIZE)

        def one(index: int):
            http = requests.Session()
            try:
                barrier.wait()
                began = time.perf_counter()
                response = _hold(http, server, slot, 100_000 + round_number * RACE_SIZE + index)
                return time.perf_counter() - began, _code(response)
            finally:
                http.close()

        with ThreadPoolExecutor(max_workers=RACE_SIZE) as pool:
            codes = []
            for took, code in pool.map(one, range(RACE_SIZE)):
                samples.append(took)
                outcomes[code] += 1
                codes.append(code)
            winners.append(codes.count("201"))
    print(f"(c) {label} {RACE_SIZE}-way same-slot race over {len(slots)} slots: "
          f"p50 {_percentile(samples, 0.5) * 1000:.0f} ms, p95 {_percentile(samples, 0.95) * 1000:.0f} ms, "
          f"max {max(samples) * 1000:.0f} ms ({len(samples)} requests; outcomes {dict(outcomes)}); winners per "
          f"seat {winners} ({'exactly one each' if set(winners) == {1} else 'NOT one each'})", flush=True)


def hold_floor(label: str, backend: str, database_url: str, redis_url: str, folder: Path, slots: list[dict]) -> None:
    """(d): the same request path as a hold around FLOOR_STATEMENTS trivial statements and
    nothing else (bench/apps/hold_floor.py), beside its own server's /healthz: the best ratio a hold
    of that many round trips could reach on this stack and machine."""
    from tests.integration.live_server import live_server

    with live_server(backend, database_url, redis_url, folder, workers=WORKERS, threads=THREADS, seeded=True,
                     app_spec="bench.apps.hold_floor:app") as server:
        rate = baseline(server, f"{label} (floor server)")
        for statements in FLOOR_STATEMENTS:
            path = f"/bench/floor/{statements}"
            _post_all(server, slots[:WARMUP_HOLDS], path, probe=False)
            outcomes, latencies, elapsed, cpu, _ = _post_all(server, slots[:HOLDS], path, probe=False)
            done = outcomes.get("201", 0)
            per = cpu.per(done)
            print(f"(d) {label} floor: a hold's request path around {statements} trivial statements "
                  f"{done / elapsed:.1f}/s (ratio {done / elapsed / rate:.3f} to this server's /healthz, "
                  f"target for holds {TARGETS.get(label, 0.1)}); p50 {_percentile(latencies, 0.5) * 1000:.0f} ms; "
                  "CPU per request (ms) " + ", ".join(f"{kind} {ms:.1f}" for kind, ms in per.items())
                  + f"; outcomes {dict(outcomes)}", flush=True)


def bench_backend(label: str, backend: str, database_url: str, redis_url: str, folder: Path) -> None:
    from tests.integration.live_server import live_server

    with live_server(backend, database_url, redis_url, folder, workers=WORKERS, threads=THREADS) as server:
        started = time.perf_counter()
        add_providers(server)
        slots = distinct_slots(server)
        race, pool = slots[:RACE_SLOTS], slots[RACE_SLOTS:]
        print(f"    {label}: {len(slots)} distinct non-overlapping slots set up and found in "
              f"{time.perf_counter() - started:.1f} s ({len(race)} kept for the race)", flush=True)
        if len(pool) < WARMUP_HOLDS + HOLDS:
            print(f"    {label}: only {len(pool) - WARMUP_HOLDS} slots for (b), fewer than {HOLDS}", flush=True)
        idle = idle_probe(server)
        rate = baseline(server, label)
        holds_per_second(server, label, pool, rate, idle)
        same_slot_race(server, label, race)
    hold_floor(label, backend, database_url, redis_url, folder, pool)


def on_each_backend(title: str, prefix: str, bench_backend) -> None:
    """Run `bench_backend(label, backend, database_url, redis_url, folder)` on a fresh migrated
    PostgreSQL database and then a SQLite one, with one embedded Redis; everything is stopped after."""
    from app import embedded_redis
    from tests.conftest import _upgrade
    from tests.postgres_cluster import PostgresCluster

    folder = Path(tempfile.mkdtemp(prefix=prefix))
    redis_url = embedded_redis.ensure_running(folder / "redis")
    print(f"{title}, logs in {folder}", flush=True)
    wanted = os.environ.get("BENCH_BACKENDS", "postgresql,sqlite").split(",")  # e.g. BENCH_BACKENDS=sqlite
    try:
        if "postgresql" in wanted:
            cluster = PostgresCluster()
            cluster.start()
            try:
                name = f"bench_{uuid.uuid4().hex[:8]}"
                cluster.execute(f"CREATE DATABASE {name}")
                _upgrade(cluster.url(name))
                bench_backend("PostgreSQL", "postgresql", cluster.url(name), redis_url, folder)
            finally:
                cluster.stop()
        if "sqlite" in wanted:
            sqlite_url = f"sqlite:///{folder / 'bench.sqlite3'}"
            _upgrade(sqlite_url)
            bench_backend("SQLite", "sqlite", sqlite_url, redis_url, folder)
    finally:
        embedded_redis.stop(folder / "redis")


def main() -> None:
    on_each_backend(f"Booking benchmark: gunicorn gthread {WORKERS} workers x {THREADS} threads, {CLIENTS} client threads "
                    "(same machine)", "bookwell-bench-booking-", bench_backend)


if __name__ == "__main__":
    main()
