"""``python -m bench --quick`` runs and prints the whole table (its figures are not judged)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _table() -> tuple[str, list[list[str]], list[str]]:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in lines
        if line.startswith("|")
    ]
    notes = [line for line in lines if line.startswith("note: ")]
    return lines[0], rows, notes


def test_quick_bench_prints_one_table_with_every_row() -> None:
    header, rows, notes = _table()
    assert header.startswith(
        "python -m bench: 1 round(s) of 1 MiB per run, 1 MiB per session x4, "
        "a 4 MiB tree for tar, servers alternating; medians; "
    )
    assert f"nproc {os.cpu_count()}, Linux {os.uname().release}, Python " in header
    assert rows[0] == ["row", "server", "median", "÷ best C", "close ms", "peak RSS MiB"]
    assert set(rows[1][0]) == {"-"}
    c_servers = [n for n in ("rmt-tar", "rmt-dump") if os.access(f"/usr/sbin/{n}", os.X_OK)]
    assert len(notes) == 3 - len(c_servers)
    assert notes[-1].startswith("note: store rows: rmtd serving [stores.vault] from SeaweedFS ")
    names = ["rmtd .tap", "rmtd file", *c_servers]

    def pairs(*sizes: str) -> list[list[str]]:
        return [
            [f"{d} {size}", name]
            for size in sizes
            for d in ("W", "R")
            for name in names
            if not (size == "1 MiB" and name == "rmtd file")
        ]

    sync = [[f"W 64 KiB --sync {level}", "rmtd .tap"] for level in ("filemark", "record")]
    faults = [[f"{d} 10 KiB, faults configured", "rmtd .tap"] for d in ("W", "R")]
    throughput = [
        *pairs("10 KiB", "64 KiB", "256 KiB", "1 MiB", "64 KiB tcp"),
        *sync,
        *faults,
        *pairs("64 KiB x4", "64 KiB x4 tcp"),
    ]
    tar = [[f"tar {step} -b 128", name] for step in ("c", "x") for name in names]
    body = rows[2:]
    assert [row[:2] for row in body[: len(throughput)]] == throughput
    for row in body[: len(throughput)]:
        rate, unit = row[2].split()
        assert unit == "MB/s" and float(rate) > 0
        if c_servers:
            assert float(row[3]) > 0
        assert float(row[4]) >= 0 and float(row[5]) > 0
        if row[1] in c_servers:
            # The C servers take about 2 MiB; any Python process (the bench's own, forked)
            # takes far more: a larger figure was sampled from the wrong process.
            assert float(row[5]) < 16
    after = len(throughput) + len(tar)
    assert [row[:2] for row in body[len(throughput) : after]] == tar
    for row in body[len(throughput) : after]:
        rate, unit = row[2].split()
        assert unit == "MB/s" and float(rate) > 0
        if c_servers:
            assert float(row[3]) > 0
        # tar runs the server: its peak RSS is sampled while it runs, and a server that
        # lives under one sampling interval (a C server on a tiny tree) shows none.
        assert row[4] == "-"
        assert (
            float(row[5]) > 0 if row[1].startswith("rmtd") else row[5] == "-" or float(row[5]) > 0
        )
    stored = after + 6
    check_store_rows(body[after:stored])
    positioning = [
        [f"{op}, 10,000 records", f"vtape{image} {how}"]
        for image in ("", " .aws", " .het")
        for how in ("first open (scan)", "indexed")
        for op in ("fsf 5", "eom", "bsf 3", "seek 9000")
    ]
    positioning += [[f"{op}, 10,000 records", "rmtd store (manifest)"] for op in ("fsf 5", "eom")]
    assert [row[:2] for row in body[stored:]] == positioning
    for row in body[stored:]:
        spent, unit = row[2].split()
        assert unit == "ms" and float(spent) > 0


def check_store_rows(rows: list[list[str]]) -> None:
    """The store's throughput rows: writes divided by the local .tap rows, then the reads."""
    assert [row[:2] for row in rows] == [
        [label, "rmtd store"]
        for label in (
            "W 256 KiB store",
            "W 256 KiB store, with close",
            "W 64 KiB store",
            "W 64 KiB store, with close",
            "R 256 KiB store, 2 MiB cold",
            "R 256 KiB store, 2 MiB warm",
        )
    ]
    rates = []
    for row in rows:
        rate, unit = row[2].split()
        assert unit == "MB/s" and float(rate) > 0 and float(row[5]) > 0
        rates.append(float(rate))
        with_close = row[0].endswith("with close")
        assert row[4] == "-" if with_close else float(row[4]) > 0
        if row[0].startswith("W"):
            ratio, divisor = row[3].split(" ", 1)
            assert divisor == "÷ .tap" and float(ratio) > 0
        else:
            assert row[3] == "-"
    # The close (the last upload and the manifest) counted makes the figure smaller.
    assert rates[1] < rates[0] and rates[3] < rates[2]


def test_memory_stream_prints_rss_samples_per_direction() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--gib", "0.125"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "rmtd .tap, 256 KiB records, VmRSS every 64 MiB"
    assert [line.split(":")[0] for line in lines[1:]] == ["W", "R"]
    for line in lines[1:]:
        found = re.search(
            r"2 samples of VmRSS \(MiB\): first ([\d.]+), median ([\d.]+), last ([\d.]+), "
            r"max ([\d.]+); VmHWM ([\d.]+)$",
            line,
        )
        assert found, line
        first, median, last, largest, hwm = (float(value) for value in found.groups())
        assert 0 < min(first, median, last) <= largest <= hwm


def test_memory_stream_refuses_without_the_disk_space() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--gib", "1e9"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert re.fullmatch(r"python -m bench.memory: \S+ has [\d.]+ GiB free; .*\n", done.stderr)


@pytest.mark.parametrize("fmt", ["tap", "aws", "het"])
def test_generated_positioning_images_are_valid_images(tmp_path: Path, fmt: str) -> None:
    from bench.positioning import PER_FILE, make_image
    from devices.health import verify

    path = tmp_path / f"p.{fmt}"
    make_image(str(path), 2 * PER_FILE + 7, fmt)
    report = verify(str(path))
    assert report.clean and report.records == 2 * PER_FILE + 7, report
    assert vmt_ls_records(path) == [PER_FILE, PER_FILE, 7]


def vmt_ls_records(path: Path) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-c", "from rmtd.vmt import main; main()", "ls", "--json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [f["records"] for f in json.loads(done.stdout)["files"]]
