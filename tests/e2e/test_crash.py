"""No acknowledged record is ever lost: rmtd killed with SIGKILL in the middle of a session.

rmtd writes a record to the image in one call once its whole payload has arrived, and replies
``A<n>`` only after that. So a server killed at any moment leaves every acknowledged record in
the image, byte for byte and in order, plus at most the one record it wrote but had not
acknowledged yet. A kill inside that one write can leave a torn record at the end; the next
writable open cuts it off and logs that it did.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from devices.interface import OpenOptions
from devices.vtape import open_tape_image
from tests.simh_codec import record_size, word

pytestmark = pytest.mark.e2e

RMTD = str(Path(sys.executable).with_name("rmtd"))
MIB = 1 << 20
SIZES = [1, 2, 3, 511, 512, 10240, 10241, 65535, 65536, MIB - 1, MIB, 7, 100_001, MIB + 1]
"""Record sizes of the one-at-a-time writer: tiny, odd, even, block-sized and ~1 MiB."""
OPEN = b"Ovol.tap\n66 O_RDWR|O_CREAT\n"


def record(i: int, size: int) -> bytes:
    """The deterministic content of record ``i``."""
    return random.Random(i * 7919 + size).randbytes(size)


def start(root: Path) -> subprocess.Popen[bytes]:
    """Start ``rmtd --root root`` on pipes and open ``vol.tap`` for writing."""
    proc = subprocess.Popen(
        [RMTD, "--root", str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write(OPEN)
    proc.stdin.flush()
    assert proc.stdout.readline() == b"A0\n"
    return proc


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server and reap it."""
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(BrokenPipeError):
                stream.close()


def read_back(path: Path) -> Iterator[bytes]:
    """The image's records in order, read through a writable open (which cuts a torn tail)."""
    drive = open_tape_image(str(path), OpenOptions(write=True))
    try:
        buffer = memoryview(bytearray(4 * MIB))
        while True:
            try:
                got = drive.readinto(buffer)
            except OSError:
                return  # end of data: no filemark was written, the server died
            if got == 0:
                return
            yield bytes(buffer[:got])
    finally:
        drive.close()


def cut_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The image layer's messages about cutting a torn record off."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "devices.formats.image" and "cutting the image" in r.getMessage()
    ]


def test_a_kill_inside_a_payload_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    proc = start(tmp_path)
    assert proc.stdin and proc.stdout
    sent = [record(i, size) for i, size in enumerate(SIZES)]
    for data in sent:
        proc.stdin.write(b"W%d\n" % len(data) + data)
        proc.stdin.flush()
        assert proc.stdout.readline() == b"A%d\n" % len(data)
    torn = record(len(sent), MIB)
    proc.stdin.write(b"W%d\n" % MIB + torn[: MIB // 2])
    proc.stdin.flush()
    time.sleep(0.1)  # let the server take in what it can of the half payload
    kill(proc)

    image = tmp_path / "vol.tap"
    # Nothing of the half-sent record reached the image: it is written whole or not at all.
    assert image.stat().st_size == sum(record_size(len(d)) for d in sent)

    # A fresh rmtd reads every record back, then meets the end of data (no filemark).
    reads = b"".join(b"R%d\n" % (2 * MIB) for _ in range(len(sent) + 1))
    done = subprocess.run(
        [RMTD, "--root", str(tmp_path)],
        input=b"Ovol.tap/nostream\n0 O_RDONLY\n" + reads + b"C\n",
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0
    expected = b"A0\n" + b"".join(b"A%d\n" % len(d) + d for d in sent)
    assert done.stdout.startswith(expected)
    tail = done.stdout[len(expected) :].split(b"\n")
    assert tail[0] == b"E5" and tail[2:] == [b"A0", b""]  # EIO: the end of data


def test_a_torn_record_left_by_a_kill_is_cut_on_the_next_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proc = start(tmp_path)
    assert proc.stdin and proc.stdout
    sent = [record(i, size) for i, size in enumerate(SIZES[:6])]
    for data in sent:
        proc.stdin.write(b"W%d\n" % len(data) + data)
        proc.stdin.flush()
        assert proc.stdout.readline() == b"A%d\n" % len(data)
    kill(proc)
    image = tmp_path / "vol.tap"
    complete = sum(record_size(len(d)) for d in sent)
    assert image.stat().st_size == complete
    # What a kill inside the write of a 1 MiB record leaves: the leading length word and
    # part of the data (the kernel stops a write between pages on SIGKILL).
    with image.open("ab") as out:
        out.write(word(MIB) + record(99, MIB)[: 3 * 4096])

    caplog.set_level(logging.WARNING, logger="devices.formats.image")
    assert list(read_back(image)) == sent
    assert image.stat().st_size == complete
    assert cut_messages(caplog) == [
        f"{image}: record at offset {complete} runs past the end "
        f"(a write of ours cut short); cutting the image to {complete} bytes"
    ]


class Streamer(threading.Thread):
    """Writes W requests back to back without waiting for replies, until the pipe breaks."""

    def __init__(self, proc: subprocess.Popen[bytes], records: Sequence[bytes]) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.records = records
        self.sent = 0

    def run(self) -> None:
        stdin = self.proc.stdin
        assert stdin
        try:
            for data in self.records:
                stdin.write(b"W%d\n" % len(data))
                stdin.write(data)
                stdin.flush()
                self.sent += 1
        except (BrokenPipeError, ValueError):
            pass  # the server was killed (ValueError: the pipe was closed under us)


@pytest.mark.parametrize("seed", range(5))
def test_random_kills_while_streaming_lose_no_acknowledged_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, seed: int
) -> None:
    rng = random.Random(seed)
    sizes = [rng.choice(SIZES) for _ in range(40)]
    records = [record(1000 * seed + i, size) for i, size in enumerate(sizes)]
    kill_after = rng.randrange(len(records) // 2)
    delay = rng.uniform(0, 0.004)

    proc = start(tmp_path)
    assert proc.stdout
    writer = Streamer(proc, records)
    writer.start()
    acked = 0
    while acked < kill_after:
        assert proc.stdout.readline() == b"A%d\n" % len(records[acked])
        acked += 1
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    for line in iter(proc.stdout.readline, b""):  # replies already on their way count too
        assert line == b"A%d\n" % len(records[acked])
        acked += 1
    writer.join(timeout=30)
    kill(proc)

    image = tmp_path / "vol.tap"
    before = image.stat().st_size
    caplog.set_level(logging.WARNING, logger="devices.formats.image")
    got = list(read_back(image))
    assert got == records[: len(got)]
    assert acked <= len(got) <= acked + 1  # at most the record written but not yet acked
    after = image.stat().st_size
    assert after == sum(record_size(len(d)) for d in got)
    if before != after:
        assert cut_messages(caplog) == [
            f"{image}: record at offset {after} runs past the end "
            f"(a write of ours cut short); cutting the image to {after} bytes"
        ]
    else:
        assert cut_messages(caplog) == []
