"""Time (and optionally profile) bench/availability.py's reconcile figure (c) alone.

    .venv/bin/python scripts/profile_reconcile.py sqlite|postgresql [--profile PREFIX] [--rounds N]

Builds the benchmark's clinic (100 providers x 60 days) in a throw-away database, runs
reconcile from empty, then N unchanged runs, and prints each time. With --profile, writes
cProfile stats to PREFIX-empty.prof and PREFIX-unchanged.prof (the first unchanged run).
"""
from __future__ import annotations

import argparse
import cProfile
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.profile_database import profile_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", choices=["sqlite", "postgresql"])
    parser.add_argument("--profile", help="file prefix for cProfile stats")
    parser.add_argument("--rounds", type=int, default=1, help="unchanged runs after the first")
    args = parser.parse_args()

    from app import create_app
    from app.availability.reconcile import reconcile
    from app.extensions import db
    from bench.availability import _clinic

    with profile_database(args.backend) as (folder, url, redis_url):
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url, "SECRET_KEY": "bench",
                          "HORIZON_DAYS": 59, "LOG_LEVEL": "WARNING", "INSTANCE_PATH": str(folder)})
        _clinic(app, 100)
        with app.app_context():
            for index in range(args.rounds + 1):
                label = "empty" if index == 0 else "unchanged"
                profiler = cProfile.Profile() if args.profile and index <= 1 else None
                started, cpu = time.perf_counter(), time.process_time()
                if profiler:
                    profiler.enable()
                report = reconcile()
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(f"{args.profile}-{label}.prof")
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                print(f"{args.backend} {label}: {elapsed:.2f} s (this process's CPU {cpu:.2f} s), {report.changed_rows} rows, {report.skipped} providers skipped"
                      f"{' (profiled)' if profiler else ''}", flush=True)
            db.engine.dispose()


if __name__ == "__main__":
    main()
