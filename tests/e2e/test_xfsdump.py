"""xfsdump and xfsrestore, unchanged, in minimal-rmt mode (``-m``) on a blank tape through rmtd.

How xfsdump reaches the server (its ``librmt/rmtopen.c``): for ``HOST:DEVICE`` it first runs
``$RSH HOST uname`` to learn the remote system, then ``$RSH HOST $RMT`` (defaults /usr/bin/rsh
and /etc/rmt) as the RMT server. So SERVER must not be set here (fakersh would run rmtd in
place of ``uname``); RMT names a script that starts rmtd. librmt copies RMT into a 100-byte
buffer, hence a short script rather than the whole command line.

``-m`` selects xfsdump's ``drive_minrmt`` strategy, which asks the drive for nothing but reads,
writes, filemarks and spacing (without it xfsdump wants the remote st ioctls of IRIX/Linux);
it insists on a block size (``-b``). xfsdump starts by reading the tape to see what is on it:
a blank tape must fail that first read with EIO, as Linux st does, not return 0.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Run
from tests.golden.capture import loop_device

pytestmark = pytest.mark.e2e

VMT = str(Path(sys.executable).with_name("vmt"))
BLOCK = "262144"  # xfsdump's own choice for variable-block drives is 240 KiB..2 MiB
FILES = {
    "alpha.txt": b"alpha\n" * 5000,
    "sub/beta.bin": bytes(range(256)) * 1000,
    "sub/deeper/gamma": b"gamma" * 70001,
    "empty": b"",
}


@pytest.fixture
def xfs_mount(tmp_path: Path) -> Iterator[Path]:
    """An XFS file system holding FILES, mounted; unmounted and detached even on failure."""
    image = tmp_path / "xfs.img"
    with image.open("wb") as out:
        out.truncate(300 << 20)  # sparse; mkfs.xfs (xfsprogs 6) refuses anything smaller
    subprocess.run(["mkfs.xfs", "-q", str(image)], check=True, capture_output=True)
    mount = tmp_path / "mnt"
    mount.mkdir()
    with loop_device(image) as loop:
        subprocess.run(["mount", loop, str(mount)], check=True, capture_output=True)
        try:
            for name, data in FILES.items():
                (mount / name).parent.mkdir(parents=True, exist_ok=True)
                (mount / name).write_bytes(data)
            yield mount
        finally:
            subprocess.run(["umount", str(mount)], check=False)


def test_xfsdump_to_a_blank_tape_then_xfsrestore(
    run: Run, server: str, served: Path, tmp_path: Path, xfs_mount: Path
) -> None:
    run(VMT, "new", str(served / "vol.tap"))
    rmt = tmp_path / "rmt"
    rmt.write_text(f"#!/bin/sh\nexec {server}\n")
    rmt.chmod(0o755)
    assert len(str(rmt)) < 100, "librmt truncates RMT at 100 bytes"
    env = {"SERVER": "", "RMT": str(rmt)}
    # -J: leave the machine's online inventory (/var/lib/xfsdump) alone, so that xfsrestore
    # must find the session on the tape.
    dumped = run(
        "xfsdump", "-J", "-m", "-b", BLOCK, "-L", "lbl", "-M", "med", "-l", "0",
        "-f", "localhost:vol.tap", str(xfs_mount), env=env,
    )  # fmt: skip
    assert "xfsdump: Dump Status: SUCCESS" in dumped.stdout + dumped.stderr, dumped.stderr

    listing = run(VMT, "ls", str(served / "vol.tap")).stdout
    assert "record size min=262144, max=262144" in listing  # xfsdump's records, one per write

    out = tmp_path / "restored"
    out.mkdir()
    restored = run(
        "xfsrestore", "-J", "-m", "-b", BLOCK, "-L", "lbl", "-f", "localhost:vol.tap", str(out),
        env=env,
    )  # fmt: skip
    assert "xfsrestore: Restore Status: SUCCESS" in restored.stdout + restored.stderr
    for name, data in FILES.items():
        assert (out / name).read_bytes() == data, name
