"""Golden transcripts: real client sessions replayed into rmtd, replies compared byte for byte.

``capture.py`` recorded what GNU tar, mt-gnu, rdump and rrestore sent to rmtd and what rmtd
answered. Replaying each ``.client`` stream (a session's connections in order, against one
fresh root) must give exactly the recorded ``.server`` bytes: the ``R`` replies carry back
the data the ``W`` requests wrote, so the output depends on nothing but the input.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.golden.capture import SESSIONS

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
RMTD = str(Path(sys.executable).with_name("rmtd"))


def golden(stem: str) -> tuple[bytes, bytes]:
    """The recorded client-to-server and server-to-client bytes of one connection."""
    return (HERE / f"{stem}.client").read_bytes(), (HERE / f"{stem}.server").read_bytes()


def chunks(data: bytes, split: str) -> Iterator[bytes]:
    """``data`` whole, or cut at random points (seeded) into small pieces."""
    if split == "whole":
        yield data
        return
    rng = random.Random(len(data))
    pos = 0
    while pos < len(data):
        step = rng.choice([1, 2, 3, 5, 8, 13, 64, 1000, 4096])
        yield data[pos : pos + step]
        pos += step


def _drain(stream: IO[bytes], into: list[bytes]) -> None:
    into.append(stream.read())


def replay(root: Path, stream: bytes, split: str) -> subprocess.CompletedProcess[bytes]:
    """Feed ``stream`` to ``rmtd --root root`` (in pieces) and collect what it answers."""
    proc = subprocess.Popen(
        [RMTD, "--root", str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, out)),
        threading.Thread(target=_drain, args=(proc.stderr, err)),
    ]
    for reader in readers:
        reader.start()
    for piece in chunks(stream, split):
        proc.stdin.write(piece)
    proc.stdin.close()
    for reader in readers:
        reader.join(timeout=60)
    status = proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()
    return subprocess.CompletedProcess(proc.args, status, out[0], err[0])


@pytest.mark.parametrize("split", ["whole", "pieces"])
@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_replay_gives_the_recorded_replies(tmp_path: Path, session: str, split: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    for stem in SESSIONS[session]:
        sent, answered = golden(stem)
        done = replay(root, sent, split)
        assert b"Traceback" not in done.stderr, done.stderr.decode()
        assert done.returncode == 0, (stem, done.stderr.decode())
        assert done.stdout == answered, stem


W_HEADER = re.compile(rb"W(\d+)\n")


def written(client: bytes) -> bytes:
    """The payloads of a stream's ``W`` requests, concatenated (the stream holds only O/W/C)."""
    data = bytearray()
    pos = 0
    while (match := W_HEADER.search(client, pos)) is not None:
        count = int(match.group(1))
        data += client[match.end() : match.end() + count]
        pos = match.end() + count
    return bytes(data)


@pytest.mark.parametrize(
    ("writer", "reader"), [("tar-1-create", "tar-3-list"), ("dump-1-rdump", "dump-3-restore")]
)
def test_the_transcripts_read_back_what_was_written(writer: str, reader: str) -> None:
    # What makes the replay meaningful: the reading client got the writing client's bytes.
    archive = written(golden(writer)[0])
    replies = golden(reader)[1]
    assert replies.startswith(b"A0\n")  # the open
    match = re.match(rb"A(\d+)\n", replies[3:])
    assert match is not None
    count = int(match.group(1))
    assert count > 0
    assert replies[3 + match.end() : 3 + match.end() + count] == archive[:count]


def test_the_tar_session_leaves_one_archive_and_a_filemark(
    tmp_path: Path, decode: Callable[[bytes], list[bytes | None]]
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    assert replay(root, golden("tar-1-create")[0], "whole").returncode == 0
    archive = written(golden("tar-1-create")[0])
    assert len(archive) == 10240
    assert decode((root / "t.tap").read_bytes()) == [archive, None]
