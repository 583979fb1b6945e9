"""The audit log: JSON lines, UTC timestamps, every event kind, never any record data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import syslog
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rmtd.audit import AuditLog

RMTD = str(Path(sys.executable).with_name("rmtd"))
VMT = str(Path(sys.executable).with_name("vmt"))
MARKER = b"SECRET-RECORD-MARKER-7f3a"


def lines(path: Path) -> list[dict[str, object]]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_each_event_is_one_json_line_with_a_utc_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog.to(str(path))
    audit.event("connect", peer="127.0.0.1", port=1023, remote_user="alice", via="ssh")
    audit.event("disconnect")
    first, second = lines(path)
    assert first["event"] == "connect" and first["remote_user"] == "alice"
    assert first["port"] == 1023 and first["pid"] == os.getpid()
    assert second == {"time": second["time"], "event": "disconnect", "pid": os.getpid()}
    stamp = str(first["time"])
    assert stamp.endswith("Z")
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert when.utcoffset() == timedelta(0)


def test_a_file_is_appended_to_never_truncated(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text('{"event":"earlier"}\n')
    AuditLog.to(str(path)).event("disconnect")
    assert [entry["event"] for entry in lines(path)] == ["earlier", "disconnect"]


def test_none_discards(tmp_path: Path) -> None:
    audit = AuditLog.to(None)
    assert not audit.enabled
    audit.event("open", device="x.tap", mode="r")  # goes nowhere, raises nothing


def test_syslog_gets_authpriv_info(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[int, str]] = []
    opened: list[tuple[str, int, int]] = []
    monkeypatch.setattr(syslog, "openlog", lambda ident, opt, fac: opened.append((ident, opt, fac)))
    monkeypatch.setattr(syslog, "syslog", lambda priority, text: sent.append((priority, text)))
    AuditLog.to("syslog").event("refuse", reason="no proxy entry")
    assert opened == [("rmtd", syslog.LOG_PID, syslog.LOG_AUTHPRIV)]
    [(priority, text)] = sent
    assert priority == syslog.LOG_AUTHPRIV | syslog.LOG_INFO
    assert json.loads(text)["reason"] == "no proxy entry" and "\n" not in text


def test_an_unwritable_audit_log_stops_rmtd_with_a_message(tmp_path: Path) -> None:
    done = subprocess.run(
        [RMTD, "--root", str(tmp_path), "--audit", str(tmp_path / "no" / "such" / "log")],
        input=b"",
        capture_output=True,
        check=False,
    )
    assert done.returncode == 2
    assert b"cannot open the audit log" in done.stderr and b"No such file" in done.stderr


def session(root: Path, audit: Path, requests: bytes) -> bytes:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
    done = subprocess.run(
        [RMTD, "--root", str(root), "--audit", str(audit)],
        input=requests,
        capture_output=True,
        check=True,
        env=env,
    )
    return done.stdout


def test_a_session_records_open_close_counts_and_never_data(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run([VMT, "new", str(root / "vol.tap")], check=True, capture_output=True)
    audit = tmp_path / "audit.log"
    record = MARKER * 10
    flags = os.O_RDWR | os.O_CREAT
    write = b"Ovol.tap\n%d\n" % flags + b"W%d\n" % len(record) + record
    write += b"W%d\n" % len(record) + record + b"C\n"
    read = b"Ovol.tap/nostream\n0\nR65536\nR65536\nR65536\nC\nOnot/there.tap\n0\n"
    replies = session(root, audit, write + read)
    assert replies.count(MARKER) == 20  # the data did go back to the client
    events = lines(audit)
    kinds = [entry["event"] for entry in events]
    assert kinds == ["connect", "open", "close", "open", "close", "disconnect"]
    assert events[0]["via"] == "stdio"
    assert events[1] == {**events[1], "device": "vol.tap", "mode": "w"}
    assert events[2] == {
        **events[2],
        "bytes_written": 2 * len(record),
        "records_written": 2,
        "bytes_read": 0,
        "records_read": 0,
    }
    assert events[3]["mode"] == "r" and events[3]["device"] == "vol.tap/nostream"
    assert events[4] == {
        **events[4],
        "bytes_read": 2 * len(record),
        "records_read": 2,  # the third read met the filemark: not a record
        "bytes_written": 0,
        "records_written": 0,
    }
    assert MARKER not in audit.read_bytes()


def test_a_refused_open_is_audited(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    audit = tmp_path / "audit.log"
    replies = session(root, audit, b"O../outside.tap\n66\n")
    assert replies.startswith(b"E13\n")
    refuse = next(entry for entry in lines(audit) if entry["event"] == "refuse")
    assert refuse["device"] == "../outside.tap" and refuse["mode"] == "w"
    assert "outside" in str(refuse["reason"])
    assert not (tmp_path / "outside.tap").exists()
