"""The benchmark of issue 8: one command, one run, one table.

Run: ``python -m bench [--rounds N] [--mib N] [--tar-mib N] [--store-cold-mib N] [--quick]``.
Every round measures every row below through every server in turn (rmtd to a ``.tap``, a
fresh image each round, and to a plain file; Debian's ``/usr/sbin/rmt-tar`` and
``/usr/sbin/rmt-dump`` to a fresh plain file), so that a slow spell of a shared machine falls
on all servers alike. The rows:

- "W/R 10 KiB, 64 KiB, 256 KiB": a stop-and-wait client in this process writes then reads
  ``--mib`` MiB over pipes (bench/rounds.py);
- "W/R 1 MiB": the same in 1 MiB records, rmtd ``.tap`` and the C servers only: the memory
  rows (issue 8 wants rmtd's peak RSS under 64 MB there);
- "W/R 64 KiB tcp": the same over loopback TCP, the rsh protocol from a reserved port: rmtd
  through one ``rmtd listen`` for the run, the C servers started the inetd way on the
  accepted socket (bench/tcp.py);
- "W/R 64 KiB x16" and "x16 tcp": 16 sessions at once, each its own process, server and
  file, ``--mib``/4 MiB each; aggregate MB/s (bench/parallel.py);
- "W 64 KiB --sync filemark/record": rmtd to a ``.tap`` at the other ``--sync`` levels
  (``close``, the default, is every other rmtd row), ``--mib``/4 MiB; the ratio is to the
  better C server's "W 64 KiB" (they never sync);
- "W/R 10 KiB, faults configured": rmtd to a ``.tap`` with a ``[faults]`` table naming another
  image (the tape served is not wrapped: faults cost nothing where none is due); the ratio is to
  the C servers' 10 KiB rows;
- "tar c/x -b 128": GNU tar archiving a ``--tar-mib`` MiB tree (made once per run) through
  a fake rsh, and reading it back to ``/dev/null``; MB/s of file data (bench/tarball.py);
- "W 256 KiB/64 KiB store" (also "with close") and "R 256 KiB store, 1 GiB cold/warm": rmtd
  serving a SeaweedFS S3 store started for the run, the writes divided by the same run's
  ``rmtd .tap`` rows, the reads of a ``--store-cold-mib`` MiB volume with the chunk cache
  emptied and then full (bench/stored.py; skipped, with a note, where ``weed`` is missing).

Each row shows the median MB/s over the rounds, that median divided by the better C server's
median for the same row (so the better C server reads 1.00), the median time of the closing
``C`` request (timed apart from the records; "-" where tar runs it) and the server's largest
peak RSS (``VmHWM``; "-" when a server lived too briefly to be sampled). Then fsf, bsf, eom
and seek on generated 10,000- and 1,000,000-record images, each timed as open + operation +
close, first with no saved index (the open scans the image) and then indexed
(bench/positioning.py), and fsf and eom on a stored volume of as many records (the manifest
read at open, a new one committed at close). ``--quick`` (1 round, 1 MiB, 4 sessions at once,
a 4 MiB tree, 10,000 records, a 2 MiB stored volume in 256 KiB chunks) takes
seconds and exists for tests/test_bench.py. The machines this runs on are shared and noisy:
read the ratios, not the absolute figures.

Not in the table: ``python -m bench.memory [--gib N]`` streams N GiB (default 10) of 256 KiB
records into rmtd to a ``.tap`` and back, printing the server's RSS over the stream (see
bench/memory.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import tempfile
from dataclasses import dataclass

from bench.parallel import SESSIONS, parallel_round, session_groups
from bench.positioning import FORMATS, make_image, operations, timed_operation
from bench.rounds import (
    FAULTS_ROW,
    SYNC_LEVELS,
    Results,
    Server,
    best_c,
    faults_server,
    measure_pair,
    measure_write,
    median_rate,
    servers,
    sync_row,
    sync_servers,
    throughput_round,
    throughput_rows,
)
from bench.stored import StoreBench, unavailable
from bench.tarball import TAR_ROWS, TarBench
from bench.tcp import Acceptor, Listen, tcp_servers

COLUMNS = ("row", "server", "median", "÷ best C", "close ms", "peak RSS MiB")
BASE_ROWS = {f"W {sync_row(level)}": "W 64 KiB" for level in SYNC_LEVELS}
BASE_ROWS |= {f"{d} {FAULTS_ROW}": f"{d} 10 KiB" for d in ("W", "R")}
"""Rows whose ratio is to another row's C servers (those that only rmtd runs)."""
MEASURED = ("fsf", "eom", "bsf", "seek")


def _cell(values: list[float], scale: float) -> str:
    return f"{statistics.median(values) * scale:.1f}" if values else "-"


def table_rows(results: Results, labels: list[str], names: list[str]) -> list[tuple[str, ...]]:
    """One row per label and server, in that order (a server that did not run a row: none)."""
    rows: list[tuple[str, ...]] = []
    for label in labels:
        best = best_c(results, BASE_ROWS.get(label, label))
        for name in names:
            if (label, name) not in results:
                continue
            samples = results[(label, name)]
            rate = median_rate(results, (label, name))
            ratio = f"{rate / best:.2f}" if best else "n/a"
            peak = f"{max(samples.rss_kib) / 1024:.1f}" if samples.rss_kib else "-"
            rows.append((label, name, f"{rate:.1f} MB/s", ratio, _cell(samples.closes, 1000), peak))
    return rows


def positioning_rows(
    workdir: str, records: int, repeats: int, fmt: str = "tap"
) -> list[tuple[str, ...]]:
    """fsf, eom, bsf and seek on a generated image: first open (scan), then indexed.

    The first opens of an AWS or HET image are measured once each (a HET scan inflates every
    block to learn its length: seconds for a million records); indexed ones ``repeats`` times.
    """
    path = os.path.join(workdir, f"positioning-{records}.{fmt}")
    make_image(path, records, fmt)
    server = "vtape" if fmt == "tap" else f"vtape .{fmt}"
    rows: list[tuple[str, ...]] = []
    for scan, how in ((True, "first open (scan)"), (False, "indexed")):
        times: dict[str, list[float]] = {}
        for _ in range(repeats if fmt == "tap" or not scan else 1):
            # The operations run in sequence (each starts where the last left the tape, as
            # the drive's saved state keeps the position), so repeat the whole sequence.
            for name, op, count in operations(records):
                times.setdefault(name, []).append(timed_operation(path, op, count, scan))
        for name, spent in times.items():
            if name.split()[0] in MEASURED:
                rows.append(
                    (
                        f"{name}, {records:,} records",
                        f"{server} {how}",
                        f"{statistics.median(spent):.1f} ms",
                        "-",
                        "-",
                        "-",
                    )
                )
    os.unlink(path)
    return rows


def render(header: str, rows: list[tuple[str, ...]], notes: list[str]) -> str:
    """The table as Markdown, under its header line and above its notes."""
    widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [header, "", line(COLUMNS), line(tuple("-" * w for w in widths))]
    out += [line(row) for row in rows]
    out += [f"note: {note}" for note in notes]
    return "\n".join(out)


def machine() -> str:
    """The machine's processors, kernel and Python, for the header line."""
    return f"nproc {os.cpu_count()}, Linux {platform.release()}, Python {platform.python_version()}"


@dataclass(frozen=True)
class Settings:
    """How much one run measures (see the options)."""

    rounds: int
    mib: int
    tar_mib: int
    sessions: int
    store_chunk: int = 16 << 20
    """The store's ``chunk_size`` (the configuration's default)."""
    cold_mib: int = 1024
    """MiB of the stored volume read cold and warm."""


def measure(
    workdir: str, found: list[Server], settings: Settings, store: StoreBench | None = None
) -> list[tuple[str, ...]]:
    """Every round of every throughput row, servers alternating; the table's throughput rows.

    With a ``store``, its rows follow the others (measured in every round, after the local
    rows they are divided by).
    """
    results: Results = {}
    rounds, total, sessions = settings.rounds, settings.mib << 20, settings.sessions
    each = max(1, settings.mib // 4) << 20
    listen, acceptor = Listen(workdir), Acceptor()
    try:
        over_tcp = tcp_servers(found, listen, acceptor)
        groups = session_groups(workdir, "-x", sessions)
        tcp_groups = [
            tcp_servers(group, listen, acceptor)
            for group in session_groups(workdir, "-t", sessions)
        ]
        tar = TarBench(workdir, settings.tar_mib << 20)
        tar_servers = servers(workdir, "-tar")[0]
        faulted = faults_server(found, workdir)
        for _ in range(rounds):
            throughput_round(found, total, results)
            if store is not None:
                store.round(results, total)
            for server in over_tcp:
                measure_pair(results, "64 KiB tcp", server, total, 65536)
            for level, server in zip(SYNC_LEVELS, sync_servers(found), strict=True):
                measure_write(results, sync_row(level), server, each, 65536)
            measure_pair(results, FAULTS_ROW, faulted, total, 10240)
            parallel_round(groups, each, results, f"64 KiB x{sessions}")
            parallel_round(tcp_groups, each, results, f"64 KiB x{sessions} tcp")
            tar.round(tar_servers, results)
    finally:
        listen.stop()
        acceptor.close()
    labels = [*throughput_rows(), "W 64 KiB tcp", "R 64 KiB tcp"]
    labels += [f"W {sync_row(level)}" for level in SYNC_LEVELS]
    labels += [f"{d} {FAULTS_ROW}" for d in ("W", "R")]
    labels += [f"{d} 64 KiB x{sessions}{via}" for via in ("", " tcp") for d in ("W", "R")]
    rows = table_rows(results, [*labels, *TAR_ROWS], [server.name for server in found])
    return rows + (store.rows(results, total) if store is not None else [])


def main() -> None:
    """Parse the options, run everything once, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--mib", type=int, default=64, help="MiB per run (default 64)")
    parser.add_argument(
        "--tar-mib", type=int, default=500, help="MiB in the tree tar archives (default 500)"
    )
    parser.add_argument(
        "--store-cold-mib",
        type=int,
        default=1024,
        help="MiB of the stored volume read cold and warm (default 1024)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 round, 1 MiB, x4, 4 MiB tree, 10,000 records, a 2 MiB stored volume",
    )
    args = parser.parse_args()
    if args.quick:
        settings = Settings(
            rounds=1, mib=1, tar_mib=4, sessions=4, store_chunk=256 << 10, cold_mib=2
        )
    else:
        settings = Settings(
            args.rounds, args.mib, args.tar_mib, SESSIONS, cold_mib=args.store_cold_mib
        )
    images = (10_000,) if args.quick else (10_000, 1_000_000)
    with tempfile.TemporaryDirectory() as workdir, contextlib.ExitStack() as stack:
        found, notes = servers(workdir)
        skipped = unavailable()
        store = None
        if skipped is None:
            bench = StoreBench(workdir, settings.store_chunk, settings.cold_mib << 20)
            store = stack.enter_context(bench)
            notes.append(store.note())
        else:
            notes.append(skipped)
        rows = measure(workdir, found, settings, store)
        for records in images:
            rows += positioning_rows(workdir, records, settings.rounds)
        for fmt in FORMATS[1:]:  # AWS and HET: the large image only (the quick run: 10,000)
            rows += positioning_rows(workdir, images[-1], settings.rounds, fmt)
        if store is not None:
            rows += store.positioning_rows(images[-1], settings.rounds)
    header = (
        f"python -m bench: {settings.rounds} round(s) of {settings.mib} MiB per run, "
        f"{max(1, settings.mib // 4)} MiB per session x{settings.sessions}, "
        f"a {settings.tar_mib} MiB tree for tar, servers alternating; medians; {machine()}"
    )
    print(render(header, rows, notes))


if __name__ == "__main__":
    main()
