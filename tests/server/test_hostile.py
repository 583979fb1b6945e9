"""``rmtd --root`` as a subprocess fed hostile byte streams.

Each case asserts the exact reply bytes, the exit status, that nothing but replies reached
standard output (a traceback would land there otherwise), that standard error holds no
traceback, and, where an attacker could hope for a large allocation, the child's peak RSS
(``ru_maxrss`` from ``os.wait4``) under an address-space limit of 1 GiB, so that a giant
allocation would fail instead of passing unnoticed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from rmtd.protocol.replies import ErrorReply
from tests.simh_codec import CLASS_BAD, record, simh

RMTD = str(Path(sys.executable).with_name("rmtd"))
ADDRESS_SPACE = 1 << 30
"""RLIMIT_AS of the child: a giant allocation fails rather than succeeding quietly."""
PEAK_LIMIT_KIB = 200 << 10
"""Peak resident set allowed where the input invites a large allocation."""
GROWTH_LIMIT_KIB = 6 << 10
"""Growth over an idle session allowed there: less than the 8 MiB lines sent."""
EIGHT_MIB = 8 << 20

Files = dict[str, tuple[bytes, int, int]]


@dataclass(frozen=True)
class Served:
    """What one rmtd run produced."""

    status: int
    out: bytes
    err: str
    peak_kib: int
    cpu_seconds: float


# rmtd is forked by this small launcher, not by the test process: a child forked from pytest
# starts with pytest's resident pages counted in its ru_maxrss (fork copies the page tables,
# and exec records the old image's high-water mark), which would swamp the figure.
LAUNCHER = """
import os, resource, sys
limit, report = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
pid = os.fork()
if pid == 0:
    os.close(report)
    os.execv(sys.argv[3], sys.argv[3:])
_, status, usage = os.wait4(pid, 0)
os.write(report, b"%d %f" % (usage.ru_maxrss, usage.ru_utime + usage.ru_stime))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _drain(stream: IO[bytes], into: list[bytes]) -> None:
    into.append(stream.read())


def serve(root: Path, data: bytes | Iterable[bytes], *options: str) -> Served:
    """Run ``rmtd --root root OPTIONS`` with ``data`` on stdin until it exits."""
    report, report_w = os.pipe()
    argv = [sys.executable, "-c", LAUNCHER, str(ADDRESS_SPACE), str(report_w), RMTD]
    proc = subprocess.Popen(
        [*argv, "--root", str(root), *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        pass_fds=(report_w,),
    )
    os.close(report_w)
    assert proc.stdin and proc.stdout and proc.stderr
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, out)),
        threading.Thread(target=_drain, args=(proc.stderr, err)),
    ]
    for reader in readers:
        reader.start()
    try:
        for chunk in [data] if isinstance(data, bytes) else data:
            view = memoryview(chunk)
            while view:
                view = view[os.write(proc.stdin.fileno(), view) :]
    except BrokenPipeError:
        pass  # the server hung up first (a framing error): what it answered is checked
    proc.stdin.close()
    for reader in readers:
        reader.join(timeout=60)
    status = proc.wait(timeout=60)
    with os.fdopen(report, "rb") as figures:
        peak, cpu = figures.read().split()
    proc.stdout.close()
    proc.stderr.close()
    served = Served(status, out[0], err[0].decode(errors="replace"), int(peak), float(cpu))
    assert "Traceback" not in served.err, served.err
    return served


def e(code: int, message: str) -> bytes:
    """The exact bytes of ``E<code>`` with ``message`` (made one short line, as rmtd does)."""
    return ErrorReply(code, message).to_bytes()


def a(value: int, data: bytes = b"") -> bytes:
    """The exact bytes of ``A<value>`` followed by ``data``."""
    return b"A%d\n" % value + data


def snapshot(top: Path) -> Files:
    """Every entry under ``top``: contents (or link target), mode and mtime."""
    files: Files = {}
    for path in [top, *sorted(top.rglob("*"))]:
        info = path.lstat()
        if path.is_symlink():
            body = os.readlink(path).encode()
        elif path.is_file():
            body = path.read_bytes()
        else:
            body = b""
        files[str(path.relative_to(top))] = (body, info.st_mode, info.st_mtime_ns)
    return files


def lines_ok(out: bytes) -> None:
    """Every E reply in ``out`` is exactly one status line and one message line."""
    for chunk in out.split(b"\nE")[1:]:
        code, _, rest = chunk.partition(b"\n")
        assert code.isdigit(), out
        message = rest.split(b"\n", 1)[0]
        assert message and len(message) <= 72 and message.isascii(), out


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> Served:
    """A session that opens a file and reads one byte: the reference for RSS and CPU time."""
    top = tmp_path_factory.mktemp("idle")
    (top / "f").write_bytes(b"x")
    done = serve(top, b"Of\n0\nR1\nC\n")
    assert done.out == b"A0\nA1\nxA0\n"
    return done


def bounded(done: Served, idle: Served) -> None:
    """The session's peak RSS stayed near an idle session's and well under the limit."""
    assert done.peak_kib < PEAK_LIMIT_KIB, done.peak_kib
    assert done.peak_kib - idle.peak_kib < GROWTH_LIMIT_KIB, (done.peak_kib, idle.peak_kib)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The served directory, holding a small plain file ``f``."""
    top = tmp_path / "root"
    top.mkdir()
    (top / "f").write_bytes(b"inside\n")
    return top


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A sentinel directory beside the root that no request may touch."""
    top = tmp_path / "outside"
    top.mkdir()
    (top / "img.tap").write_bytes(simh(b"secret record", None))
    (top / "plain").write_bytes(b"secret\n")
    (top / "etc").mkdir()
    (top / "etc" / "passwd").write_bytes(b"root:x:0:0::/root:/bin/sh\n")
    return top


# -- path escapes -------------------------------------------------------------------------

DOTDOT = "'..' is not allowed"


@pytest.mark.parametrize(
    ("request_bytes", "replies"),
    [
        (b"O../x.tap\n0 O_RDONLY\n", [e(13, f"../x.tap: {DOTDOT}")]),
        (b"O/../../etc/passwd\n0 O_RDONLY\n", [e(13, f"/../../etc/passwd: {DOTDOT}")]),
        (b"O..\n0 O_RDONLY\n", [e(13, f"..: {DOTDOT}")]),
        (b"Osub/../../outside/plain\n577\n", [e(13, f"sub/../../outside/plain: {DOTDOT}")]),
        (
            b"O../outside/new.tap\n65 O_WRONLY|O_CREAT\n",
            [e(13, f"../outside/new.tap: {DOTDOT}")],
        ),
        # "../x": refused, but devspec takes "x" for a qualifier after the "image" ".."
        # (reported); either refusal is safe, the errno differs.
        (b"O../x\n0 O_RDONLY\n", [e(13, f"../x: {DOTDOT}"), e(22, "unknown qualifier /x")]),
        (
            b"O../plain\n66 O_RDWR|O_CREAT\n",
            [e(13, f"../plain: {DOTDOT}"), e(22, "unknown qualifier /plain")],
        ),
    ],
)
def test_dotdot_is_refused_and_touches_nothing(
    root: Path, outside: Path, request_bytes: bytes, replies: list[bytes]
) -> None:
    before = snapshot(outside), snapshot(root)
    done = serve(root, request_bytes + b"R1\n")
    assert done.status == 0
    # ... and nothing was left open.
    assert done.out in [reply + e(9, "no device is open") for reply in replies]
    assert (snapshot(outside), snapshot(root)) == before


def test_absolute_paths_are_inside_the_root(root: Path, outside: Path) -> None:
    before = snapshot(outside)
    done = serve(root, b"O/etc/passwd\n0 O_RDONLY\nO/f\n0 O_RDONLY\nR100\nC\n")
    assert done.out == e(2, "/etc/passwd: No such file or directory") + a(0) + a(
        7, b"inside\n"
    ) + a(0)
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_bytes(b"jail\n")
    done = serve(root, b"O/etc/passwd\n0 O_RDONLY\nR100\nO//etc//passwd\n0\nR3\n")
    assert done.out == a(0) + a(5, b"jail\n") + a(0) + a(3, b"jai")
    assert done.status == 0
    assert snapshot(outside) == before


def symlinks(root: Path, outside: Path) -> None:
    (root / "link.tap").symlink_to(outside / "img.tap")
    (root / "new.tap").symlink_to(outside / "new.tap")  # dangling: create would make it
    (root / "plain").symlink_to(outside / "plain")
    (root / "dir").symlink_to(outside)
    (root / "up").symlink_to("..")
    (root / "inner").symlink_to("f")  # inside the root: allowed


LEADS_OUT = "leads outside the served directory"


@pytest.mark.parametrize(
    ("name", "flags"),
    [
        (b"link.tap", b"0 O_RDONLY"),
        (b"link.tap", b"2 O_RDWR"),
        (b"link.tap", b"577 O_WRONLY|O_CREAT|O_TRUNC"),
        (b"new.tap", b"66 O_RDWR|O_CREAT"),
        (b"new.tap/nomount/norewind/nounload", b"65 O_WRONLY|O_CREAT"),
        (b"plain", b"0 O_RDONLY"),
        (b"plain", b"577 O_WRONLY|O_CREAT|O_TRUNC"),
        (b"dir/img.tap", b"0 O_RDONLY"),
        (b"dir/made.tap", b"66 O_RDWR|O_CREAT"),
        (b"dir/made", b"577 O_WRONLY|O_CREAT|O_TRUNC"),
        (b"dir/etc/passwd", b"0 O_RDONLY"),
        (b"up/outside/plain", b"1 O_WRONLY"),
        (b"/dir/plain", b"66 O_RDWR|O_CREAT"),
    ],
)
def test_symlinks_out_of_the_root_are_eacces(
    root: Path, outside: Path, name: bytes, flags: bytes
) -> None:
    symlinks(root, outside)
    before = snapshot(outside), snapshot(root)
    # Whatever follows the refused open must find nothing open: W's payload is drained.
    stream = b"O%s\n%s\nW6\nhackedR5\nI5\n1\nC\n" % (name, flags)
    done = serve(root, stream)
    shown = name.decode().split("/nomount")[0]
    no_device = e(9, "no device is open")
    assert done.out == e(13, f"{shown}: {LEADS_OUT}") + no_device * 4
    assert done.status == 0
    assert (snapshot(outside), snapshot(root)) == before


def test_a_symlink_inside_the_root_is_followed(root: Path, outside: Path) -> None:
    symlinks(root, outside)
    done = serve(root, b"Oinner\n0 O_RDONLY\nR3\nC\n")
    assert done.out == a(0) + a(3, b"ins") + a(0)


# -- absurd counts --------------------------------------------------------------------------


def test_absurd_counts_are_refused_without_allocating(root: Path, idle: Served) -> None:
    big = 70_000_000  # above max_record (64 MiB by default), below the skip limit: drained
    stream = [
        b"Of\n0 O_RDONLY\n",
        b"R99999999999\n",
        b"R" + b"9" * 30 + b"\n",
        b"R-1\n",
        b"Rzz\n",
        b"W-1\n",
        b"W%d\n" % big,
        *[b"\xa5" * 1_000_000] * (big // 1_000_000),
        b"R3\n",
        b"I99999999999\n1\n",
        b"I6\n99999999999\n",
        b"L99999999999999999999\n0\n",
        b"C\n",
    ]
    done = serve(root, stream)
    limit = "exceeds the limit of 67108864 bytes"
    assert done.out == (
        a(0)
        + e(12, f"read count 99999999999 {limit}")
        + e(12, f"read count {'9' * 30} {limit}")
        + e(22, "byte count -1 out of range")
        + e(22, "invalid byte count 'zz'")
        + e(22, "byte count -1 out of range")
        + e(12, f"write of {big} bytes {limit}")
        + a(3, b"ins")
        + e(22, "operation code 99999999999 out of range")
        + e(22, "operation count 99999999999 out of range")
        + e(22, "seek argument 99999999999999999999 out of range")
        + a(0)
    )
    assert done.status == 0
    assert (root / "f").read_bytes() == b"inside\n"
    bounded(done, idle)


@pytest.mark.parametrize("count", [1 << 31, 1 << 32, 10**30])
def test_write_counts_no_client_can_mean_end_the_session(
    root: Path, count: int, idle: Served
) -> None:
    done = serve(root, b"Of\n1 O_WRONLY\nW%d\n" % count + b"x" * 4096 + b"C\n")
    assert done.out == a(0) + e(12, f"write count {count} is not a record size")
    assert done.status == 1
    assert (root / "f").read_bytes() == b"inside\n"
    bounded(done, idle)


def test_a_huge_payload_cut_short_is_premature_eof(root: Path, idle: Served) -> None:
    done = serve(root, [b"Of\n1 O_WRONLY\nW2147483647\n", b"x" * EIGHT_MIB])
    assert done.out == a(0) + e(5, "premature end of input in W data request")
    assert done.status == 1
    assert (root / "f").read_bytes() == b"inside\n"
    bounded(done, idle)


def test_a_negative_ioctl_count_is_not_a_negative_reply(root: Path) -> None:
    # MTFSF -2 is MTBSF 2 for st; a GNU client takes A-2 for a failure (rtapelib.c, get_status).
    (root / "v.tap").write_bytes(simh(b"abc", None, b"def", None))
    done = serve(root, b"Ov.tap/nostream\n0 O_RDONLY\nI1\n2\nI1\n-2\nI4\n1\nR10\nC\n")
    assert done.out == a(0) + a(2) + a(0) + a(1) + a(3, b"abc") + a(0)


# -- endless lines --------------------------------------------------------------------------


def test_an_endless_device_line_then_eof(root: Path, idle: Served) -> None:
    done = serve(root, [b"O", b"a" * EIGHT_MIB])
    assert done.out == e(5, "premature end of input in open request")
    assert done.status == 1
    bounded(done, idle)


def test_an_endless_device_line_that_ends_is_skipped(root: Path, idle: Served) -> None:
    done = serve(root, [b"O", b"/" * EIGHT_MIB, b"\n0 O_RDONLY\nR1\nOf\n0\nR2\n"])
    assert done.out == (
        e(36, "O device longer than 4096 bytes") + e(9, "no device is open") + a(0) + a(2, b"in")
    )
    assert done.status == 0
    bounded(done, idle)


@pytest.mark.parametrize(
    ("head", "reply"),
    [
        (b"R", e(22, "R count longer than 4096 bytes")),
        (b"Of\n", e(22, "O flags longer than 4096 bytes")),
        (b"C", e(22, "C text longer than 4096 bytes")),
        (b"L0\n", e(22, "L second line longer than 4096 bytes")),
    ],
)
def test_endless_argument_lines(root: Path, head: bytes, reply: bytes, idle: Served) -> None:
    done = serve(root, [head, b"1" * EIGHT_MIB, b"\nOf\n0\nR2\n"])
    assert done.out == reply + a(0) + a(2, b"in")
    assert done.status == 0
    bounded(done, idle)


def test_endless_blanks_in_command_position(root: Path, idle: Served) -> None:
    done = serve(root, [b" \r\n\t" * (EIGHT_MIB // 4), b"Of\n0\nR2\n"])
    assert done.out == a(0) + a(2, b"in")
    assert done.status == 0
    bounded(done, idle)
    # Skipped in bulk, not byte by byte in Python (that took ~1.5 s of CPU for 8 MiB).
    assert done.cpu_seconds - idle.cpu_seconds < 0.75, (done.cpu_seconds, idle.cpu_seconds)


# -- unknown commands, commands out of place ---------------------------------------------------


@pytest.mark.parametrize("letter", [b"X", b"x", b"F", b"N", b"A", b"E", b"\x00", b"\xff", b"\x1b"])
def test_unknown_command_letters_end_the_session(root: Path, letter: bytes) -> None:
    done = serve(root, b"Of\n0\n" + letter + b"R1\nR1\n")
    shown = repr(letter)[1:]  # b'X' -> 'X'
    assert done.out == a(0) + e(22, f"Garbage command {shown}")
    assert done.status == 1  # resynchronising is impossible (GNU rmt.c exits too)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"R1\n",
        b"R0\n",
        b"W3\nabc",
        b"W0\n",
        b"I6\n1\n",
        b"S",
        b"L0\n0\n",
        b"C\n",
        b"sT",
        b"i2\n1\n",
    ],
)
def test_commands_before_open_are_ebadf(root: Path, request_bytes: bytes) -> None:
    done = serve(root, request_bytes + b"I-1\n0\nV\n")
    assert done.out == e(9, "no device is open") + a(1) + a(2)
    assert done.status == 0


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
