"""Rows for stored volumes (issue 11): rmtd writing and reading volumes in an S3 store.

A :class:`StoreBench` starts a real SeaweedFS S3 gateway on loopback for the run
(:class:`rmtd.testing.seaweed.SeaweedServer`) and serves it as ``[stores.vault]`` to rmtd
started over pipes, as the other rows' servers are. Every round it measures, beside the
round's local rows:

- "W 256 KiB store" and "W 64 KiB store": the stop-and-wait client of bench/rounds.py writes
  ``--mib`` MiB to a new volume ``vault/...tap``; MB/s of the records (each ``A`` means the
  record is in the local spool, the uploads run behind), the close apart (it waits for the
  last chunk's upload and commits the manifest), and the same with the close counted ("with
  close") so that the spool does not flatter the figure. The volume is deleted afterwards.
- "R 256 KiB store cold" and "warm": one volume of ``cold`` bytes, written once per run, read
  back whole after the chunk cache directory is emptied (every chunk comes from the store:
  ranged GETs fetched ahead of the reader), then again with the cache full.

Then :meth:`StoreBench.positioning_rows` times fsf and eom on a volume of ``records`` records
(the image of bench/positioning.py, its chunks and manifest put in the store directly: a
million records through RMT would take minutes), each as open + operation + close through the
devices API, as the local positioning rows are: the open takes the lease and reads (and
decodes) the manifest; the close commits a new manifest, since the drive's position changed,
and releases the lease.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import statistics
import sys
import time
from bisect import bisect_left
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from bench.positioning import PER_FILE, make_image, operations
from bench.rounds import Results, Samples, Server, read, size_label, write
from devices.formats.index import ObjectIndex
from devices.formats.simh import SimhFormat
from devices.interface import OpenOptions
from devices.kinds import DeviceKind
from devices.storage import FileStorage
from devices.stored.manifest import Chunk, Manifest
from devices.stored.objects import StoreAddress
from devices.stored.volume import Store, StoreSettings

STORE = "rmtd store"
"""The server column of the store rows."""
LOCAL = "rmtd .tap"
"""The local rows the write rows are divided by (the same run, the same record size)."""
WRITE_SIZES = (262144, 65536)
READ_SIZE = 262144
BUCKET, PREFIX = "tapes", "bench"
POSITIONING = ("fsf", "eom")
"""The operations of bench/positioning.py reported for a stored volume."""


def write_label(record: int, with_close: bool = False) -> str:
    """``W 256 KiB store``, ``W 256 KiB store, with close``."""
    return f"W {size_label(record)} store" + (", with close" if with_close else "")


def read_label(cold: bool, size: int) -> str:
    """``R 256 KiB store, 1 GiB cold``."""
    return f"R {size_label(READ_SIZE)} store, {_bytes(size)} {'cold' if cold else 'warm'}"


def _bytes(size: int) -> str:
    return f"{size >> 30} GiB" if size % (1 << 30) == 0 else f"{size >> 20} MiB"


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` (the store's keys, for rmtd and boto3), then as before."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class StoreBench:
    """A store for the run and the rows measured through it (see the module's docstring).

    Args:
        workdir: the run's directory (the store's data, spool and cache go under it).
        chunk_size: the store's ``chunk_size``.
        cold: bytes of the volume read cold and warm.
    """

    def __init__(self, workdir: str, chunk_size: int, cold: int) -> None:
        from rmtd.testing.seaweed import SeaweedServer

        self.workdir = os.path.join(workdir, "store")
        self.chunk_size = chunk_size
        self.cold = cold - cold % READ_SIZE
        self.seaweed = SeaweedServer(Path(self.workdir, "seaweed"))
        self.cache_dir = os.path.join(self.workdir, "cache")
        self.spool_dir = os.path.join(self.workdir, "spool")
        self._stack = contextlib.ExitStack()
        self.server = Server(STORE, [], "")
        self.rounds = 0
        self.cold_written = False

    def __enter__(self) -> StoreBench:
        os.makedirs(self.workdir)
        self._stack.enter_context(self.seaweed)
        self._stack.enter_context(_environ(self.seaweed.environ))
        self.seaweed.create_bucket(BUCKET)
        config = os.path.join(self.workdir, "rmtd.toml")
        Path(config).write_text(
            f'[stores.vault]\nurl = "s3://{BUCKET}/{PREFIX}"\n'
            f'endpoint = "{self.seaweed.endpoint}"\nchunk_size = {self.chunk_size}\n'
            f'spool_dir = "{self.spool_dir}"\ncache_dir = "{self.cache_dir}"\n'
            f"cache_size = {max(2 * self.cold, 64 << 20)}\n"
        )
        rmtd = str(Path(sys.executable).with_name("rmtd"))
        argv = [rmtd, "--root", self.workdir, "--config", config]
        self.server = Server(STORE, argv, "vault/cold.tap")
        self.store = Store(self._settings())
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _settings(self) -> StoreSettings:
        address = StoreAddress(BUCKET, PREFIX, self.seaweed.endpoint)
        return StoreSettings(
            "vault",
            address,
            self.chunk_size,
            self.spool_dir,
            self.cache_dir,
            max(2 * self.cold, 64 << 20),
        )

    def note(self) -> str:
        """What the store rows ran against, for the table's notes."""
        return (
            f"store rows: rmtd serving [stores.vault] from SeaweedFS (weed server -s3) on "
            "loopback, on this machine's processors too, "
            f"chunk_size {self.chunk_size >> 10} KiB; ÷ .tap: the same run's "
            f"'{LOCAL}' row of that record size ('with close': the close counted on both "
            "sides); a store row's close waits for the last chunk's upload and the manifest"
        )

    def _delete(self, volume: str) -> None:
        objects = self.store.objects
        for found in list(objects.list(self.store.volume_key(volume) + "/")):
            objects.delete(found.key)

    def round(self, results: Results, total: int) -> None:
        """One round of the store rows: the writes, then the cold and the warm read."""
        self.rounds += 1
        for record in WRITE_SIZES:
            volume = f"w{record >> 10}-{self.rounds}.tap"
            server = dataclasses.replace(self.server, target=f"vault/{volume}")
            size = total - total % record
            timed = write(server, size, record)
            results.setdefault((write_label(record), STORE), Samples()).add(
                size / timed.records / 1e6, timed.close, timed.rss
            )
            results.setdefault((write_label(record, True), STORE), Samples()).add(
                size / (timed.records + timed.close) / 1e6, None, timed.rss
            )
            self._delete(volume)
        if not self.cold_written:
            write(self.server, self.cold, READ_SIZE)
            self.cold_written = True
        shutil.rmtree(self.cache_dir, ignore_errors=True)
        for cold in (True, False):
            timed = read(self.server, self.cold, READ_SIZE)
            results.setdefault((read_label(cold, self.cold), STORE), Samples()).add(
                self.cold / timed.records / 1e6, timed.close, timed.rss
            )

    def rows(self, results: Results, total: int) -> list[tuple[str, ...]]:
        """The store's throughput rows: medians, ratios to the local rows, closes, peak RSS."""
        rows: list[tuple[str, ...]] = []
        for record in WRITE_SIZES:
            size = total - total % record
            local = results.get((f"W {size_label(record)}", LOCAL))
            for with_close in (False, True):
                label = write_label(record, with_close)
                base = None
                if local is not None:
                    base = _with_close(local, size) if with_close else local.rates
                rows.append(_row(label, results[(label, STORE)], base))
        for cold in (True, False):
            label = read_label(cold, self.cold)
            rows.append(_row(label, results[(label, STORE)], None))
        return rows

    def positioning_rows(self, records: int, repeats: int) -> list[tuple[str, ...]]:
        """Time fsf and eom on a stored volume of ``records`` records (open + operation + close)."""
        volume = f"positioning-{records}.tap"
        self._put_volume(volume, records)
        self.store.verify()  # once per process: not part of any open timed below
        times: dict[str, list[float]] = {}
        for _ in range(repeats):
            for name, op, count in operations(records):
                start = time.perf_counter()
                drive = self.store.open_volume(volume, OpenOptions(), DeviceKind.SIMH, volume)
                drive.ioctl(op, count)
                drive.close()
                times.setdefault(name, []).append((time.perf_counter() - start) * 1000)
        self._delete(volume)
        return [
            (
                f"{name}, {records:,} records",
                f"{STORE} (manifest)",
                f"{statistics.median(spent):.1f} ms",
            )
            + ("-",) * 3
            for name, spent in times.items()
            if name.split()[0] in POSITIONING
        ]

    def _put_volume(self, volume: str, records: int) -> None:
        """The image of bench/positioning.py as chunks (cut between records) and a manifest."""
        path = os.path.join(self.workdir, volume)
        make_image(path, records)
        index = ObjectIndex()
        storage = FileStorage.open(path, writable=False)
        try:
            result = SimhFormat().scan(storage, index)
        finally:
            storage.close()
        assert result.problem is None, result.problem
        key, objects = self.store.volume_key(volume), self.store.objects
        chunks: list[Chunk] = []
        with io.FileIO(path) as image:
            start = 0
            while start < index.end:
                cut = bisect_left(index.offsets, start + self.chunk_size)
                end = index.offsets[cut] if cut < len(index) else index.end
                data = image.read(end - start)
                name = f"{len(chunks):08x}"
                objects.put(f"{key}/chunks/{name}", data)
                chunks.append(Chunk(name, start, end - start))
                start = end
        os.unlink(path)
        manifest = Manifest("simh", 1, chunks, index, token="bench")
        objects.put_if(f"{key}/manifest", manifest.encode(), None)
        assert len(index.marks) == records // PER_FILE


def _with_close(local: Samples, size: int) -> list[float]:
    """The local rounds' MB/s with their closes counted (rate and close paired by round)."""
    return [
        size / (size / (rate * 1e6) + close) / 1e6
        for rate, close in zip(local.rates, local.closes, strict=True)
    ]


def _row(label: str, samples: Samples, base: list[float] | None) -> tuple[str, ...]:
    rate = statistics.median(samples.rates)
    ratio = f"{rate / statistics.median(base):.2f} ÷ .tap" if base else "-"
    close = f"{statistics.median(samples.closes) * 1000:.1f}" if samples.closes else "-"
    peak = f"{max(samples.rss_kib) / 1024:.1f}" if samples.rss_kib else "-"
    return (label, STORE, f"{rate:.1f} MB/s", ratio, close, peak)


def unavailable() -> str | None:
    """Why the store rows cannot run here (no ``weed``), or ``None``."""
    from rmtd.testing.seaweed import find_weed

    try:
        find_weed()
    except FileNotFoundError as exc:
        return f"store rows skipped: {exc}"
    return None
