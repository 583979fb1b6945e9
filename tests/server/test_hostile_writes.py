"""``rmtd --root`` fed hostile byte streams: writes where writing is not allowed, corrupt
images, a client that is gone (see ``test_hostile`` for the method)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.server.hostile import (
    RMTD,
    a,
    e,
    lines_ok,
    make_root,
    serve,
    snapshot,
)
from tests.simh_codec import CLASS_BAD, record, simh


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The served directory, holding a small plain file ``f``."""
    return make_root(tmp_path)


# -- writing where writing is not allowed ----------------------------------------------------------


def test_write_to_a_read_only_plain_file_is_ebadf(root: Path) -> None:
    # st and a plain file agree: write(2) on an O_RDONLY descriptor is EBADF, refused before
    # the payload is taken (the payload is still consumed, so R3 reads the file).
    done = serve(root, b"Of\n0 O_RDONLY\nW3\nxyzR3\nC\n")
    assert done.out == a(0) + e(9, "f: not opened for writing") + a(3, b"ins") + a(0)
    assert (root / "f").read_bytes() == b"inside\n"


def test_write_to_a_read_only_tape_is_ebadf(root: Path) -> None:
    image = simh(b"first", b"second", None)
    (root / "v.tap").write_bytes(image)
    real = "v.tap"  # messages name the device as the client did, never the server's path
    done = serve(root, b"Ov.tap/nostream\n0 O_RDONLY\nW3\nxyzR10\nI5\n1\nR10\nC\n")
    assert done.out == (
        a(0)
        + e(9, f"{real}: not opened for writing")
        + a(5, b"first")
        + e(13, f"{real}: cannot write filemarks: opened read-only")
        + a(6, b"second")
        + a(0)
    )
    lines_ok(done.out)
    assert (root / "v.tap").read_bytes() == image


def test_read_only_server(root: Path) -> None:
    (root / "v.tap").write_bytes(simh(b"rec", None))
    before = snapshot(root)
    done = serve(
        root,
        b"Of\n1 O_WRONLY\nOf\n577 O_WRONLY|O_CREAT|O_TRUNC\nOnew\n66 O_RDWR|O_CREAT\n"
        b"Ov.tap\n2 O_RDWR\nOnew.tap\n65 O_WRONLY|O_CREAT\nW2\nhiOf\n0 O_RDONLY\nR2\n",
        "--read-only",
    )
    assert done.out == (
        e(30, "f: the server is read-only")
        + e(30, "f: the server is read-only")
        + e(30, "new: the server is read-only")
        + e(30, "v.tap: the server is read-only")
        + e(30, "new.tap: the server is read-only")
        + e(9, "no device is open")
        + a(0)
        + a(2, b"in")
    )
    assert snapshot(root) == before  # nothing created, written or truncated


def test_nowrite_qualifier(root: Path) -> None:
    image = simh(b"rec", None)
    (root / "v.tap").write_bytes(image)
    done = serve(
        root,
        b"Ov.tap/nowrite\n1 O_WRONLY\nOf/nowrite\n577 O_WRONLY|O_CREAT|O_TRUNC\n"
        b"Onew.tap/nowrite\n66 O_RDWR|O_CREAT\nOv.tap/nowrite\n0 O_RDONLY\nR10\nC\n",
    )
    assert done.out == (
        e(30, "v.tap: write-protected for this open (/NOWRITE)")
        + e(30, "f: write-protected for this open (/NOWRITE)")
        + e(30, "new.tap: write-protected for this open (/NOWRITE)")
        + a(0)
        + a(3, b"rec")
        + a(0)
    )
    assert (root / "f").read_bytes() == b"inside\n"
    assert (root / "v.tap").read_bytes() == image
    assert not (root / "new.tap").exists()


# -- corrupt images ---------------------------------------------------------------------------


def corrupt_lengths(first: bytes, second: bytes) -> bytes:
    """A record whose trailing length word differs from the leading one."""
    return record(b"x" * 40, trailer=41)


def bad_class(first: bytes, second: bytes) -> bytes:
    """A record of class 8 (bad data): reading it is EIO, the next record is readable."""
    return record(b"b" * 12, cls=CLASS_BAD)


@pytest.mark.parametrize("garbage", [corrupt_lengths, bad_class])
def test_corrupt_images_read_up_to_the_damage_then_eio(
    root: Path, garbage: Callable[[bytes, bytes], bytes]
) -> None:
    first, second, third = b"A" * 100, b"B" * 51, b"C" * 30
    image = simh(first, second) + garbage(first, second) + simh(third, None)
    (root / "bad.tap").write_bytes(image)
    real = "bad.tap"
    reads = b"R200\n" * 5
    done = serve(root, b"Obad.tap/nostream\n0 O_RDONLY\n" + reads + b"C\nObad.tap\n0\nR200\nR9\n")
    head = a(0) + a(100, first) + a(51, second)
    if garbage is corrupt_lengths:
        damage = e(5, f"{real}: damaged at offset 168 (record at offset 168: length words differ)")
        records = head + damage * 3
    else:
        damage = e(5, f"{real}: bad data in record 2")
        records = head + damage + a(30, third) + a(0)  # past the bad record, to the mark
    # The default /STREAM mode: one byte stream up to the damage, then the same EIO.
    assert done.out == records + a(0) + a(0) + a(151, first + second) + damage
    lines_ok(done.out)
    assert done.status == 0
    assert (root / "bad.tap").read_bytes() == image


# -- a client that is gone ------------------------------------------------------------------------


@pytest.mark.parametrize(("stream", "status"), [(b"Of\n0\nR1\n", 0), (b"X", 1), (b"Of", 1)])
def test_replies_to_a_client_that_is_gone(root: Path, stream: bytes, status: int) -> None:
    # The reading end of stdout is closed before rmtd starts: every reply meets EPIPE.
    # A clean request stream still ends with 0, a framing error still with 1.
    out_r, out_w = os.pipe()
    os.close(out_r)
    try:
        done = subprocess.run(
            [RMTD, "--root", str(root)],
            input=stream,
            stdout=out_w,
            stderr=subprocess.PIPE,
            check=False,
            timeout=60,
        )
    finally:
        os.close(out_w)
    assert done.returncode == status
    assert b"Traceback" not in done.stderr
