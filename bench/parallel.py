"""The "x16" rows of ``python -m bench``: 16 stop-and-wait sessions at once, aggregate MB/s.

(``--quick`` runs 4 at once, and its rows say "x4": 64 server start-ups of rmtd alone would
take most of its seconds on two cores.)

Each session is a process of its own (a client in a thread would share this process's GIL with
the fifteen others and measure the client), forked from the bench, writing then reading its
own file or image through its own server. The sessions open their targets, wait for each other
(a barrier), then time their records; the reads start only once every session has opened for
reading, so after every write has ended. Aggregate MB/s is the bytes of all sessions over the
time from the first session's first record to the last session's last reply (the closes,
where rmtd syncs a ``.tap``, are timed apart, as in every row). Peak RSS is the largest single
server's ``VmHWM``.
"""

from __future__ import annotations

import multiprocessing
import statistics
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier

from bench.rounds import Results, Samples, Server, Timed, fresh, read, servers, write

SESSIONS = 16
RECORD = 65536
BARRIER_TIMEOUT = 300.0
"""Seconds a session waits for the others (a session that failed breaks the wait sooner)."""


def _session(server: Server, size: int, barrier: Barrier, out: Connection) -> None:
    """One session, in its own process: W then R, each after the barrier; send the figures."""

    def ready() -> None:
        barrier.wait(BARRIER_TIMEOUT)

    try:
        timed = [measure(server, size, RECORD, ready) for measure in (write, read)]
    except BaseException:
        barrier.abort()  # the others must not wait for a session that has failed
        raise
    out.send(timed)
    out.close()


def _aggregate(runs: list[Timed], size: int) -> tuple[float, float, int]:
    """(MB/s of all sessions together, median close seconds, largest peak RSS in KiB)."""
    first = min(run.start for run in runs)
    last = max(run.start + run.records for run in runs)
    rss = max(run.rss for run in runs)
    return len(runs) * size / (last - first) / 1e6, statistics.median(r.close for r in runs), rss


def parallel_round(groups: list[list[Server]], total: int, results: Results, label: str) -> None:
    """Run one group's sessions at once, for each group of servers in turn.

    Adds the rows "W ``label``" and "R ``label``" to ``results``.

    Args:
        groups: per server, as many servers of that name as sessions, each on its own target.
        total: bytes each session writes and reads.
        results: the rows so far.
        label: the rows' label after the direction.
    """
    size = total - total % RECORD
    context = multiprocessing.get_context("fork")
    for group in groups:
        for server in group:
            fresh(server)
        barrier = context.Barrier(len(group))
        pipes, procs = [], []
        for server in group:
            mine, theirs = context.Pipe(duplex=False)
            proc = context.Process(target=_session, args=(server, size, barrier, theirs))
            proc.start()
            theirs.close()
            pipes.append(mine)
            procs.append(proc)
        runs: list[list[Timed]] = []
        for pipe, proc in zip(pipes, procs, strict=True):
            try:
                runs.append(pipe.recv())
            except EOFError:
                proc.join()
                raise OSError(f"{group[0].name}: a session failed ({proc.exitcode})") from None
            proc.join()
        for index, direction in enumerate(("W", "R")):
            rate, close, rss = _aggregate([run[index] for run in runs], size)
            samples = results.setdefault((f"{direction} {label}", group[0].name), Samples())
            samples.add(rate, close, rss)


def session_groups(workdir: str, stem: str, sessions: int = SESSIONS) -> list[list[Server]]:
    """Per server, ``sessions`` copies of it, each on its own file in ``workdir``."""
    copies = [servers(workdir, f"{stem}{index}")[0] for index in range(sessions)]
    return [list(group) for group in zip(*copies, strict=True)]
