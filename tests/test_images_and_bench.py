"""The sample images rebuild byte for byte, and the benchmark runs (its figures are not judged)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from images.build import build

ROOT = Path(__file__).resolve().parent.parent


def test_sample_images_are_reproducible(tmp_path: Path) -> None:
    built = build(str(tmp_path))
    assert built
    for path in map(Path, built):
        committed = ROOT / "images" / path.name
        assert committed.read_bytes() == path.read_bytes(), path.name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(Path(p).name for p in built)


def test_positioning_benchmark_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.positioning", "--records", "5000", "--repeats", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "image: 5,000 records" in done.stdout
    for name in ("scan", "fsf 2", "eom", "seek 4500", "tell"):
        assert name in done.stdout


def test_throughput_benchmark_runs_against_the_c_servers() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.throughput", "--mib", "1", "--repeats", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    names = [line.split("  ")[0].strip() for line in lines[2:]]
    assert names == ["rmtd (file)", "rmtd (.tap)", "rmt-tar", "rmt-dump"]
    assert all(len(line.split()) >= 5 for line in lines[2:])
