"""CPU time per process kind, from Linux /proc: steadier than rates on a shared machine.

`cpu_seconds(pid)` is one process's user + system time so far; `CpuSplit` sums the time
each kind of process used between two moments: the server process and its workers
("server"), the PostgreSQL backends of one database ("database") and this benchmark's
own process with its client threads ("clients").
"""
from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    return _stat(pid)[1]


def _stat(pid: int) -> tuple[int, float]:
    """(parent pid, user + system seconds) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _by_process(server_pid: int, database: str | None) -> dict[int, tuple[str, float]]:
    """CPU so far of this process ("clients"), the server process and its descendants
    ("server"), and the PostgreSQL backends serving `database` ("database")."""
    stats, commands = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = _stat(int(entry.name))
                commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:  # gone meanwhile
                pass
    found = {}
    for pid, (parent, used) in stats.items():
        kind, ancestor = None, pid
        while ancestor > 1 and kind is None:
            if ancestor == server_pid:
                kind = "server"
            ancestor = stats.get(ancestor, (0, 0.0))[0]
        if pid == os.getpid():
            kind = "clients"
        elif database and commands[pid].startswith(b"postgres: ") and f" {database} ".encode() in commands[pid]:
            kind = "database"
        if kind is not None:
            found[pid] = (kind, used)
    return found


class CpuSplit:
    """`with CpuSplit(server_pid, database) as split: ...` then `split.seconds` = {kind: CPU
    seconds used inside}. PostgreSQL's shared background processes are not counted."""

    def __init__(self, server_pid: int, database: str | None = None) -> None:
        self._server_pid, self._database = server_pid, database

    def __enter__(self) -> "CpuSplit":
        self._before = _by_process(self._server_pid, self._database)
        return self

    def __exit__(self, *exc) -> None:
        self.seconds: dict[str, float] = {}
        for pid, (kind, used) in _by_process(self._server_pid, self._database).items():
            spent = used - self._before.get(pid, (kind, 0.0))[1]
            self.seconds[kind] = self.seconds.get(kind, 0.0) + spent

    def per(self, count: int) -> dict[str, float]:
        """Milliseconds per unit of work, by kind."""
        return {kind: seconds * 1000 / max(count, 1) for kind, seconds in sorted(self.seconds.items())}
