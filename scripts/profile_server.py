"""Profile the live server under a benchmark's load with py-spy: where a request's time goes.

    .venv/bin/python scripts/profile_server.py holds|slots|finder [sqlite|postgresql] [--idle]

Starts the same gunicorn server as bench/booking.py (3 workers x 8 threads, demo clinic),
runs that workload for a while with py-spy sampling every worker process, and prints the
functions with the largest inclusive and self share of the samples. Without --idle only
running threads are sampled (CPU); with --idle, waiting threads (locks, I/O) count too.
py-spy is a tool, not a dependency: `pip install --target /tmp/pyspy py-spy` and set
PY_SPY=/tmp/pyspy/bin/py-spy (or have py-spy on PATH).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _summarise(raw: Path, top: int = 45) -> None:
    inclusive, own, total = Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        total += n
        seen = set()
        for frame in frames:
            name = _short(frame)
            if name not in seen:
                inclusive[name] += n
                seen.add(name)
        if frames:
            own[_short(frames[-1])] += n
    print(f"{total} samples")
    print("--- inclusive (share of samples with the function on the stack) ---")
    for name, n in inclusive.most_common(top):
        print(f"{100 * n / total:5.1f}%  {name}")
    print("--- self ---")
    for name, n in own.most_common(top // 2):
        print(f"{100 * n / total:5.1f}%  {name}")


def _short(frame: str) -> str:
    func, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/perfr/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{func} ({path})"


from profile_database import profile_database  # noqa: E402


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    what = args[0] if args else "holds"
    backend = args[1] if len(args) > 1 else "sqlite"
    idle = "--idle" in sys.argv
    spy = os.environ.get("PY_SPY") or shutil.which("py-spy") or "/tmp/pyspy/bin/py-spy"
    from bench import booking, reads
    from tests.integration.live_server import live_server

    with profile_database(backend) as (folder, url, redis_url):
        with live_server(backend, url, redis_url, folder) as server:
            if what == "holds":
                booking.add_providers(server)
                slots = booking.distinct_slots(server)[booking.RACE_SLOTS:]
                rate = booking.baseline(server, backend)
                work = lambda: booking.holds_per_second(server, backend, slots, rate)  # noqa: E731
            else:
                urls = reads.workload(server)[0 if what == "slots" else 1]
                work = lambda: print(reads._rate(server, backend, urls)[0], "req/s")  # noqa: E731
            raw = folder / f"{what}.txt"
            command = [spy, "record", "--subprocesses", "--rate", "250", "--format", "raw", "-o", str(raw),
                       "--pid", str(server.process.pid), "--nonblocking"] + (["--idle"] if idle else [])
            recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)
            work()
            recorder.send_signal(2)  # SIGINT: py-spy writes its file
            recorder.wait(30)
            _summarise(raw)
            print(f"raw stacks: {raw}")


if __name__ == "__main__":
    main()
