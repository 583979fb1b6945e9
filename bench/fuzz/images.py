"""Fuzz every tape-image reader with atheris, seeded from the repository's images.

Run (from the repository root, with the ``fuzz`` extra installed)::

    python -m bench.fuzz.images [SECONDS] [--target images|state] [--plain]
                                [--corpus DIR] [--artifacts DIR]

Each input is written as an image of every format in ``tests.fuzz.readers.FORMATS`` and run
through ``tests.fuzz.readers.exercise``: the probe and ``describe_*``, the scan, drive reads in
variable and fixed-block mode, ``/STREAM`` reads, fsf/bsf/fsr/bsr/eom/seek, ``vmt ls`` and
``vmt read``, ``health.verify``, and an open for writing closed without a write. Any exception
other than the ``OSError`` a reader may give (EIO, ENOMEM, EMEDIUMTYPE), a read outside the
file, an unbounded buffer or a changed file is a crash: libFuzzer saves the input as
``crash-*`` in the artifacts directory and stops.

Seeds: ``images/*.tap`` and images built with ``tests/simh_codec.py`` (records of many sizes,
filemarks, bad-data records, gaps, an end-of-medium marker), each format's builder for the
others. Half the mutations are libFuzzer's own, half are the structural corruptions of
``tests/fuzz/corruptions.py`` (extreme words on object headers, truncation, insertion,
duplicated ranges).

``--target state`` fuzzes the drive state beside one valid image instead (``state.py``).

``--plain`` (or atheris not installed: ``pip install -e '.[fuzz]'``) runs a plain random
mutator loop with the same checks instead: no coverage guidance, clearly labelled as such.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
MAX_LEN = 1 << 17
"""Largest input tried (128 KiB: records larger than the 64 KiB tar uses, small files)."""


def seed_images() -> list[bytes]:
    """The seed corpus: the repository's sample images and images built by the test codec."""
    from tests.fuzz.readers import FORMATS
    from tests.simh_codec import CLASS_BAD, END_OF_MEDIUM, GAP, HALF_GAP, encode, record

    seeds = [p.read_bytes() for p in sorted((ROOT / "images").glob("*.tap"))]
    logical: list[list[bytes | None]] = [
        [b"x"],
        [None],
        [b"abc", None, b"defg", None, None],
        [b"r" * 10240] * 3 + [None],
        [b"o" * 65535, None, b"e" * 65536, None],
        [bytes(range(256)) * 4, b"\x00" * 7, None, b"\xff" * 513, None, None],
    ]
    for item in FORMATS:
        seeds += [item.build(objects) for objects in logical]
    seeds += [
        encode([b"good"]) + record(b"bad!", cls=CLASS_BAD) + encode([None]),
        GAP + encode([b"after a gap", None]) + HALF_GAP + encode([b"y"]),
        encode([b"data", None]) + END_OF_MEDIUM,
        encode([b"first"]) + record(b"second", trailer=7),
    ]
    return [s[:MAX_LEN] for s in seeds]


class Target(Protocol):
    """What is fuzzed: a call per input, its seeds, and its own structural mutation."""

    executions: int

    def __call__(self, data: bytes) -> None:
        """Run the readers over one input."""
        ...

    def seeds(self) -> list[bytes]:
        """The seed corpus."""
        ...

    def mutation(self, data: bytes, rng: random.Random) -> bytes:
        """One structure-aware mutation of ``data``."""
        ...


class Runner:
    """Runs every reader over one input per call, counting executions."""

    def __init__(self, directory: Path) -> None:
        from tests.fuzz.readers import FORMATS, exercise

        self.directory = directory
        self.formats = FORMATS
        self.exercise = exercise
        self.executions = 0

    def __call__(self, data: bytes) -> None:
        """Exercise ``data`` as an image of every format (in a scratch directory)."""
        self.executions += 1
        with no_sync():
            for item in self.formats:
                for leftover in self.directory.iterdir():
                    leftover.unlink()
                self.exercise(data, item, self.directory)

    def seeds(self) -> list[bytes]:
        """The sample images and the codec's images."""
        return seed_images()

    def mutation(self, data: bytes, rng: random.Random) -> bytes:
        """A structural corruption (``tests/fuzz/corruptions.py``)."""
        return structural_mutation(data, rng)


class StateTarget:
    """The ``state`` target: fuzzed drive states beside one valid image (bench/fuzz/state.py)."""

    def __init__(self, directory: Path) -> None:
        from bench.fuzz.state import StateRunner, mutate_state

        with no_sync():
            self.runner = StateRunner(directory)
        self._mutate = mutate_state
        self.executions = 0

    def __call__(self, data: bytes) -> None:
        """Run the readers with ``data`` as the drive state."""
        self.executions += 1
        with no_sync():
            self.runner(data)

    def seeds(self) -> list[bytes]:
        """States the drive saved."""
        return self.runner.seeds

    def mutation(self, data: bytes, rng: random.Random) -> bytes:
        """One field set to an extreme value."""
        return self._mutate(data, rng)


@contextlib.contextmanager
def no_sync() -> Iterator[None]:
    """Durability is not under test here, and fsync is most of an execution's time."""
    with mock.patch.object(os, "fsync", _no_sync), mock.patch.object(os, "fdatasync", _no_sync):
        yield


def _no_sync(fd: int) -> None:
    """Stands in for ``os.fsync`` and ``os.fdatasync`` while fuzzing."""


def structural_mutation(data: bytes, rng: random.Random) -> bytes:
    """One corruption of ``tests/fuzz/corruptions.py`` with random parameters."""
    from tests.fuzz.corruptions import EXTREMES, KINDS, Corruption, corrupt
    from tests.fuzz.readers import FORMATS

    change = Corruption(
        kind=rng.choice(KINDS),
        at=rng.randrange(1 << 20),
        data=rng.randbytes(rng.randint(1, 12)),
        value=rng.randrange(len(EXTREMES)),
        width=rng.choice((2, 4)),
        shift=rng.randrange(1 << 20),
        length=rng.randint(1, 96),
    )
    return corrupt(data, rng.choice(FORMATS), [change])[0][:MAX_LEN]


def run_atheris(atheris: Any, runner: Target, seconds: int, corpus: Path, artifacts: Path) -> None:
    """Fuzz with libFuzzer for ``seconds`` (its own summary is printed on stderr)."""

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            return bytes(atheris.Mutate(data, max_size))
        return runner.mutation(data, rng)[:max_size]

    args = [
        sys.argv[0],
        str(corpus),
        f"-max_total_time={seconds}",
        f"-max_len={MAX_LEN}",
        "-rss_limit_mb=2048",
        "-timeout=30",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
    ]
    atheris.Setup(args, runner, custom_mutator=mutate)
    atheris.Fuzz()


def run_plain(runner: Target, seconds: int, artifacts: Path) -> int:
    """The fallback: random structural mutations of the seeds, same checks."""
    print("PLAIN random mutator (no coverage guidance): atheris is not in use", file=sys.stderr)
    rng = random.Random()
    pool = runner.seeds()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = rng.choice(pool)
        for _ in range(rng.randint(1, 3)):
            data = runner.mutation(data, rng)
        try:
            runner(data)
        except Exception:
            crash = artifacts / f"crash-plain-{runner.executions}"
            crash.write_bytes(data)
            traceback.print_exc()
            print(f"crash after {runner.executions} executions, input saved as {crash}")
            return 1
        if rng.random() < 0.01:
            pool.append(data)
    print(f"plain: {runner.executions} executions in {seconds} s, no crash")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and fuzz."""
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz.images", description=__doc__)
    parser.add_argument("seconds", nargs="?", type=int, default=600, help="how long to run")
    parser.add_argument("--plain", action="store_true", help="plain random mutator, no atheris")
    parser.add_argument(
        "--target",
        choices=["images", "state"],
        default="images",
        help="images: fuzzed image bytes; state: fuzzed drive states beside a valid image",
    )
    parser.add_argument("--corpus", type=Path, default=Path("fuzz-corpus"))
    parser.add_argument("--artifacts", type=Path, default=Path("fuzz-artifacts"))
    options = parser.parse_args(argv)
    # What the devices log is expected here; vmt's logging.basicConfig, finding a handler,
    # leaves it alone instead of keeping the first captured stderr for good.
    logging.getLogger().addHandler(logging.NullHandler())
    options.corpus.mkdir(parents=True, exist_ok=True)
    options.artifacts.mkdir(parents=True, exist_ok=True)
    scratch = Path(options.artifacts, "scratch")
    scratch.mkdir(exist_ok=True)
    atheris = None if options.plain else _atheris()
    runner = _runner(scratch, atheris, options.target)  # first: readers imported instrumented
    for n, seed in enumerate(runner.seeds()):
        (options.corpus / f"seed-{n:02d}").write_bytes(seed)
    if atheris is None:
        return run_plain(runner, options.seconds, options.artifacts)
    # libFuzzer exits the process itself, printing "Done N runs in S second(s)" and its stats.
    run_atheris(atheris, runner, options.seconds, options.corpus, options.artifacts)
    return 0


def _atheris() -> Any:
    try:
        return importlib.import_module("atheris")
    except ImportError:
        print("atheris is not installed (pip install -e '.[fuzz]')", file=sys.stderr)
        return None


def _runner(directory: Path, atheris: Any, target: str = "images") -> Target:
    """The target, its readers imported under atheris' coverage instrumentation if in use."""
    if atheris is not None:
        instrument: Callable[..., Any] = atheris.instrument_imports
        with instrument(include=["devices", "rmtd"]):
            importlib.import_module("tests.fuzz.readers")  # and with it every reader
    return StateTarget(directory) if target == "state" else Runner(directory)


if __name__ == "__main__":
    sys.exit(main())
