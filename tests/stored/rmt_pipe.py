"""An rmtd on pipes and the RMT requests a test sends it, one at a time, replies read whole.

The test knows exactly what was acknowledged: :meth:`RmtPipe.write` returns only once the
server answered ``A``. Replies are ``(errno, value_or_message)``: errno 0 with the ``A``
number, or the ``E`` errno with the message line (see ``rmtd.protocol``).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from typing import IO

from devices.interface import MtOp

Reply = tuple[int, str]
"""``(0, "A's number")`` or ``(errno, "message")``."""


class RmtPipe:
    """One rmtd process on pipes (``argv`` and ``env`` start it).

    Args:
        argv: the server's command line.
        env: its environment.
    """

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in: IO[bytes] = self.proc.stdin
        self._out: IO[bytes] = self.proc.stdout

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.proc.pid

    def send(self, request: bytes) -> None:
        """Send request bytes without waiting for a reply."""
        self._in.write(request)
        self._in.flush()

    def reply(self) -> Reply:
        """Read one reply (the data of an ``R`` reply is left unread)."""
        line = self._out.readline()
        if line.startswith(b"A"):
            return 0, line[1:].decode().strip()
        if line.startswith((b"E", b"F")):
            return int(line[1:]), self._out.readline().decode().strip()
        raise AssertionError(f"not a reply: {line!r} (rmtd exited: {self.proc.poll()})")

    def call(self, request: bytes) -> Reply:
        """Send ``request`` and read its reply."""
        self.send(request)
        return self.reply()

    def open(self, name: str, flags: str = "66 O_RDWR|O_CREAT") -> Reply:
        """``O``: open ``name``."""
        return self.call(f"O{name}\n{flags}\n".encode())

    def write(self, data: bytes) -> Reply:
        """``W``: write one record."""
        return self.call(b"W%d\n" % len(data) + data)

    def ioctl(self, op: MtOp, count: int = 1) -> Reply:
        """``I``: one tape operation."""
        return self.call(b"I%d\n%d\n" % (op, count))

    def read(self, size: int = 1 << 20) -> bytes | Reply:
        """``R``: one record's bytes, or the reply that is not data (a filemark is ``(0, "0")``)."""
        code, value = self.call(b"R%d\n" % size)
        if code or value == "0":
            return code, value
        return self._out.read(int(value))

    def close(self) -> Reply:
        """``C``: close the device."""
        return self.call(b"C\n")

    def signal(self, number: signal.Signals) -> None:
        """Send the server a signal."""
        self.proc.send_signal(number)

    def kill(self) -> None:
        """SIGKILL the server and reap it."""
        self.proc.kill()
        assert self.proc.wait(timeout=30) == -signal.SIGKILL
        self.end()

    def end(self, timeout: float = 30) -> int:
        """Close the pipes (the server exits at the end of its input); its exit status."""
        for stream in (self._in, self._out):
            with contextlib.suppress(BrokenPipeError):
                stream.close()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
