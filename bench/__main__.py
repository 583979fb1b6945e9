"""The benchmark of issue 8: one command, one run, one table.

Run: ``python -m bench [--rounds N] [--mib N] [--quick]``. A stop-and-wait client in this
process writes then reads N MiB in 10 KiB, 64 KiB and 256 KiB records over pipes through
``rmtd`` (to a fresh ``.tap`` each round, and to a plain file) and through Debian's
``/usr/sbin/rmt-tar`` and ``/usr/sbin/rmt-dump`` (to a fresh plain file), the servers
alternating round by round (see bench/rounds.py). Each row shows the median MB/s over the
rounds, that median divided by the better C server's median for the same direction and size
(so the better C server reads 1.00), the median time of the closing ``C`` request and the
server's largest peak RSS. Then fsf, bsf, eom and seek on generated 10,000- and
1,000,000-record images, each timed as open + operation + close, first with no saved index
(the open scans the image) and then indexed (bench/positioning.py). The machines this runs
on are shared and noisy: read the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile

from bench.parallel import parallel_round, session_groups
from bench.positioning import make_image, operations, timed_operation
from bench.rounds import (
    Results,
    best_c,
    measure_pair,
    median_rate,
    servers,
    throughput_round,
    throughput_rows,
)
from bench.tarball import TAR_ROWS, TarBench
from bench.tcp import Acceptor, Listen, tcp_servers

COLUMNS = ("row", "server", "median", "÷ best C", "close ms", "peak RSS MiB")
MEASURED = ("fsf", "eom", "bsf", "seek")


def _cell(values: list[float], scale: float) -> str:
    return f"{statistics.median(values) * scale:.1f}" if values else "-"


def table_rows(results: Results, labels: list[str], names: list[str]) -> list[tuple[str, ...]]:
    """One row per label and server, in that order (a server that did not run a row: none)."""
    rows: list[tuple[str, ...]] = []
    for label in labels:
        best = best_c(results, label)
        for name in names:
            if (label, name) not in results:
                continue
            samples = results[(label, name)]
            rate = median_rate(results, (label, name))
            ratio = f"{rate / best:.2f}" if best else "n/a"
            peak = f"{max(samples.rss_kib) / 1024:.1f}" if samples.rss_kib else "-"
            rows.append((label, name, f"{rate:.1f} MB/s", ratio, _cell(samples.closes, 1000), peak))
    return rows


def positioning_rows(workdir: str, records: int, repeats: int) -> list[tuple[str, ...]]:
    """fsf, eom, bsf and seek on a generated image: first open (scan), then indexed."""
    path = os.path.join(workdir, f"positioning-{records}.tap")
    make_image(path, records)
    rows: list[tuple[str, ...]] = []
    for scan, how in ((True, "first open (scan)"), (False, "indexed")):
        times: dict[str, list[float]] = {}
        for _ in range(repeats):
            # The operations run in sequence (each starts where the last left the tape, as
            # the drive's saved state keeps the position), so repeat the whole sequence.
            for name, op, count in operations(records):
                times.setdefault(name, []).append(timed_operation(path, op, count, scan))
        for name, spent in times.items():
            if name.split()[0] in MEASURED:
                rows.append(
                    (
                        f"{name}, {records:,} records",
                        f"vtape {how}",
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


def main() -> None:
    """Parse the options, run everything once, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--mib", type=int, default=64, help="MiB per run (default 64)")
    parser.add_argument(
        "--tar-mib", type=int, default=500, help="MiB in the tree tar archives (default 500)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 round, 1 MiB, 10,000 records: seconds"
    )
    args = parser.parse_args()
    rounds, mib = (1, 1) if args.quick else (args.rounds, args.mib)
    tar_mib = 4 if args.quick else args.tar_mib
    images = (10_000,) if args.quick else (10_000, 1_000_000)
    with tempfile.TemporaryDirectory() as workdir:
        found, notes = servers(workdir)
        names = [server.name for server in found]
        results: Results = {}
        listen, acceptor = Listen(workdir), Acceptor()
        try:
            over_tcp = tcp_servers(found, listen, acceptor)
            groups = session_groups(workdir)
            tar = TarBench(workdir, tar_mib << 20)
            tar_servers = servers(workdir, "-tar")[0]
            for _ in range(rounds):
                throughput_round(found, mib << 20, results)
                for server in over_tcp:
                    measure_pair(results, "64 KiB tcp", server, mib << 20, 65536)
                parallel_round(groups, max(1, mib // 4) << 20, results)
                tar.round(tar_servers, results)
        finally:
            listen.stop()
            acceptor.close()
        labels = [*throughput_rows(), "W 64 KiB tcp", "R 64 KiB tcp"]
        labels += ["W 64 KiB x16", "R 64 KiB x16", *TAR_ROWS]
        rows = table_rows(results, labels, names)
        for records in images:
            rows += positioning_rows(workdir, records, rounds)
    header = (
        f"python -m bench: {rounds} round(s) of {mib} MiB per run, servers alternating; "
        f"medians; {machine()}"
    )
    print(render(header, rows, notes))


if __name__ == "__main__":
    main()
