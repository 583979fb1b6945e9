"""What the hostile-input tests share: rmtd as a subprocess, reply bytes, peak memory.

A session runs ``rmtd --root`` under an address-space limit of 1 GiB, so that a giant
allocation fails instead of passing unnoticed, and reports its output, exit status and peak
RSS (``ru_maxrss`` from ``os.wait4``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rmtd.protocol.replies import ErrorReply

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


def bounded(done: Served, idle: Served) -> None:
    """The session's peak RSS stayed near an idle session's and well under the limit."""
    assert done.peak_kib < PEAK_LIMIT_KIB, done.peak_kib
    assert done.peak_kib - idle.peak_kib < GROWTH_LIMIT_KIB, (done.peak_kib, idle.peak_kib)


def make_root(tmp_path: Path) -> Path:
    """The served directory, holding a small plain file ``f``."""
    top = tmp_path / "root"
    top.mkdir()
    (top / "f").write_bytes(b"inside\n")
    return top
