"""The audit log: one JSON line per event, to a file or to syslog, never any record data.

Events (the ``kind`` of :meth:`AuditLog.event`): ``connect`` (peer, port, remote_user,
local_user, via), ``refuse`` (reason, plus what is known), ``open`` (device, mode ``r``/``w``),
``close`` (device, bytes_read, bytes_written, records_read, records_written) and
``disconnect``. Callers pass names and counts only; the session never hands record bytes here.

A file is opened with ``O_APPEND`` and each line goes out in one ``write`` call, so that the
lines of concurrent sessions (one process each) never interleave: POSIX makes each append
write land at the end of the file as a whole. Syslog lines go to ``LOG_AUTHPRIV``, the facility
for security and authorisation messages (``syslog(3)``), as sshd and rshd log theirs.
"""

from __future__ import annotations

import json
import logging
import os
import syslog
from collections.abc import Callable
from datetime import UTC, datetime

log = logging.getLogger(__name__)

SYSLOG = "syslog"
Field = str | int | bool | None


class AuditLog:
    """One JSON line per event, UTC timestamps; to a file, to syslog, or nowhere.

    Args:
        sink: writes one line (with its newline); ``None`` discards every event.
        where: what the sink is, for messages.
    """

    def __init__(self, sink: Callable[[str], None] | None, where: str = "") -> None:
        self._sink = sink
        self.where = where

    @classmethod
    def to(cls, target: str | None) -> AuditLog:
        """The log ``--audit`` names: ``None`` discards, ``"syslog"``, else a file path.

        Raises:
            OSError: the file cannot be opened for appending (its strerror says why).
        """
        if target is None:
            return cls(None)
        if target == SYSLOG:
            return cls(_to_syslog, SYSLOG)
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return cls(lambda line: _append(fd, line), target)

    @property
    def enabled(self) -> bool:
        """Whether events go anywhere."""
        return self._sink is not None

    def event(self, kind: str, **fields: Field) -> None:
        """Record one event: its kind, a UTC ISO timestamp, the process id, and ``fields``.

        A failing log is reported on the server's log and does not stop the session: the
        session's data is worth more than its audit line.
        """
        if self._sink is None:
            return
        record: dict[str, Field] = {"time": utc_now(), "event": kind, "pid": os.getpid()}
        record.update(fields)
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=True) + "\n"
        try:
            self._sink(line)
        except OSError as exc:
            log.warning("audit log %s: cannot write: %s", self.where, exc.strerror or exc)


def utc_now() -> str:
    """The time now, UTC, ISO 8601 with milliseconds and a ``Z`` (``2024-05-01T12:00:00.000Z``)."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    return stamp.removesuffix("+00:00") + "Z"


def _append(fd: int, line: str) -> None:
    """Append ``line`` with one ``write`` (``O_APPEND``: it lands whole at the end)."""
    os.write(fd, line.encode("utf-8"))


def _to_syslog(line: str) -> None:
    """Send ``line`` to syslog as an authpriv.info message from ``rmtd``."""
    syslog.openlog("rmtd", syslog.LOG_PID, syslog.LOG_AUTHPRIV)
    syslog.syslog(syslog.LOG_AUTHPRIV | syslog.LOG_INFO, line.rstrip("\n"))
