"""Slot read benchmark against a real server: `python bench/reads.py`.

For PostgreSQL and for SQLite, a live gunicorn server (as in tests/integration/live_server.py)
on a fresh database seeded with the demo clinic, 16 concurrent keep-alive clients:

(a) baseline: GET /healthz requests per second
(b) GET /api/v1/slots (anonymous clients without cookies, as scripts and apps call it;
    provider and location queries over the next two weeks, each asked once before the run)
    requests per second
(c) the patient finder's results partial (GET /book as HTMX asks for it) requests per second
(d) Redis keys the reads wrote (sticky samples and cache entries): reads must share them

Target: (b) and (c) at least 0.5 x (a) of the same run. Figures only, no assertions.
"""
from __future__ import annotations

import itertools
import sys
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

CLIENTS = 16
SECONDS = 5.0
TARGET = 0.5


def _rate(server, label: str, urls: list[tuple[str, dict, dict]]) -> tuple[float, Counter, list[float]]:
    """Requests per second of CLIENTS clients cycling through `urls` for SECONDS."""
    counts, failures, latencies = [0] * CLIENTS, Counter(), []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS + 1)
    box = {}

    def client(index: int) -> None:
        http = requests.Session()
        cycle = itertools.islice(itertools.cycle(urls), index, None)
        barrier.wait()
        while time.perf_counter() < box["deadline"]:
            path, params, headers = next(cycle)
            if path.startswith("/api/"):
                http.cookies.clear()  # API clients keep no cookies; a browser on the finder does
            began = time.perf_counter()
            response = http.get(server.url(path), params=params, headers=headers, timeout=30)
            took = time.perf_counter() - began
            with lock:
                latencies.append(took)
            if response.status_code == 200:
                counts[index] += 1
            else:
                failures[response.status_code] += 1
        http.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    box["deadline"] = started + SECONDS
    barrier.wait()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started), failures, latencies


def _p(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else 0.0


def _redis_keys(redis_url: str, pattern: str) -> int:
    import redis

    return sum(1 for _ in redis.Redis.from_url(redis_url).scan_iter(pattern))


def workload(server) -> tuple[list, list]:
    """(slot API requests, finder partial requests), with every worker's caches warmed."""
    from tests.integration import live_server as ls

    providers, types = ls.providers(server), ls.appointment_types(server)
    consult, video = types["General consultation"], types["Video follow-up"]
    weber, chen = providers["Dr. Anna Weber"], providers["Dr. Maya Chen"]
    today = date.today()
    slot_urls = []
    for offset in range(14):
        day = (today + timedelta(days=offset)).isoformat()
        slot_urls.append(("/api/v1/slots", {"appointment_type_id": consult["id"], "provider_id": weber["id"],
                                            "date": day}, {}))
        slot_urls.append(("/api/v1/slots", {"appointment_type_id": video["id"],
                                            "location_id": chen["location_ids"][0], "date": day}, {}))
    finder = [("/book", {}, {"HX-Request": "true", "HX-Target": "results"})]
    for path, params, headers in slot_urls[:4] + finder:  # warm every worker's caches
        for _ in range(6):
            requests.get(server.url(path), params=params, headers=headers, timeout=30).raise_for_status()
    # Every query once, as a busy site's reads are: the answers are shared through Redis
    # (app/availability/read_cache.py), so the run measures reads, not the first computations.
    for path, params, headers in slot_urls:
        requests.get(server.url(path), params=params, headers=headers, timeout=30).raise_for_status()
    return slot_urls, finder


def bench_backend(label: str, backend: str, database_url: str, redis_url: str, folder: Path) -> None:
    from tests.integration import live_server as ls

    with ls.live_server(backend, database_url, redis_url, folder) as server:
        slot_urls, finder = workload(server)
        base, failures, base_latency = _rate(server, label, [("/healthz", {}, {})])
        print(f"(a) {label} GET /healthz {base:.0f} req/s, p50 {_p(base_latency, .5):.0f} ms, "
              f"p95 {_p(base_latency, .95):.0f} ms{_failed(failures)}", flush=True)
        keys_before = _redis_keys(redis_url, "bookwell:*")
        slots, failures, latency = _rate(server, label, slot_urls)
        print(f"(b) {label} slots GET /api/v1/slots {slots:.0f} req/s, ratio {slots / base:.2f} to /healthz "
              f"(target {TARGET}: {slots / base / TARGET:.2f} of it), p50 {_p(latency, .5):.0f} ms, "
              f"p95 {_p(latency, .95):.0f} ms{_failed(failures)}", flush=True)
        pages, failures, latency = _rate(server, label, finder)
        print(f"(c) {label} finder partial GET /book (HTMX) {pages:.0f} req/s, ratio {pages / base:.2f} to "
              f"/healthz (target {TARGET}: {pages / base / TARGET:.2f} of it), p50 {_p(latency, .5):.0f} ms, "
              f"p95 {_p(latency, .95):.0f} ms{_failed(failures)}", flush=True)
        print(f"(d) {label} Redis keys written by {SECONDS * 2:.0f} s of reads: "
              f"{_redis_keys(redis_url, 'bookwell:*') - keys_before}", flush=True)


def _failed(failures: Counter) -> str:
    return f"; non-200: {dict(failures)}" if failures else ""


def main() -> None:
    from bench.booking import on_each_backend

    on_each_backend(f"Read benchmark: {CLIENTS} client threads on the same machine", "bookwell-bench-reads-",
                    bench_backend)


if __name__ == "__main__":
    main()
