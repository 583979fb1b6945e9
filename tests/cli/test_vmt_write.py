"""``vmt write``: summary, progress bar on a terminal, Ctrl-C and ENOSPC leave incomplete files."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from devices.state import StateFile
from rmtd.vmt import main

VMT = [sys.executable, "-c", "from rmtd.vmt import main; main()"]


def vmt(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def listing(image: Path) -> list[dict[str, object]]:
    files: list[dict[str, object]] = json.loads(vmt("ls", "--json", str(image)).output)["files"]
    return files


def test_write_prints_a_summary_naming_the_new_tape_files(tmp_path: Path) -> None:
    image = tmp_path / "vol.tap"
    data = tmp_path / "d.bin"
    data.write_bytes(b"x" * 25000)
    assert vmt("new", str(image)).exit_code == 0
    assert vmt("write", str(image), str(data)).exit_code == 0
    done = subprocess.run(
        check=False,
        args=[*VMT, "write", str(image), str(data), str(data)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr == f"{image}: wrote 2 tape files (1, 2), 6 records, 50000 bytes\n"
    one = subprocess.run(
        check=False, args=[*VMT, "write", str(image), "-"], input="", capture_output=True, text=True
    )
    assert one.stderr == f"{image}: wrote 1 tape file (3), 0 records, 0 bytes\n"
    assert [f["records"] for f in listing(image)] == [3, 3, 3, 0]


def test_a_progress_bar_shows_only_on_a_terminal(tmp_path: Path) -> None:
    image = tmp_path / "vol.tap"
    data = tmp_path / "d.bin"
    data.write_bytes(b"x" * 100_000)
    master, slave = os.openpty()
    try:
        done = subprocess.run(
            check=False,
            args=[*VMT, "write", str(image), str(data)],
            stderr=slave,
            stdout=subprocess.PIPE,
        )
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    assert done.returncode == 0
    assert f"{data}".encode() in shown and b"100000/100000" in shown
    assert f"{image}: wrote 1 tape file (0)".encode() in shown
    piped = subprocess.run(
        check=False, args=[*VMT, "write", str(image), str(data)], capture_output=True
    )
    assert piped.stderr.count(b"\n") == 1 and b"%" not in piped.stderr


def test_ctrl_c_leaves_the_partial_file_closed_and_marked_incomplete(tmp_path: Path) -> None:
    image = tmp_path / "vol.tap"
    first = tmp_path / "first.bin"
    first.write_bytes(b"f" * 5000)
    assert vmt("new", str(image)).exit_code == 0
    proc = subprocess.Popen(
        [*VMT, "write", "-b", "1024", str(image), str(first), "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    assert proc.stdin is not None and proc.stderr is not None
    # A one-page pipe: once this blocking write returns, vmt has read all but 4 KiB of it, so
    # at least 100 records of standard input are in the image, and it waits for more input.
    fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    proc.stdin.write(b"s" * (1024 * 104 + 512))
    proc.send_signal(signal.SIGINT)
    stderr = proc.stderr.read().decode()
    assert proc.wait() == 130
    proc.stdin.close()
    proc.stderr.close()
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"vmt: {image}: interrupted: tape file 1 is incomplete (")
    files = listing(image)
    assert [(f["records"], f["incomplete"], f["closed"]) for f in files[:1]] == [(5, False, True)]
    assert len(files) == 2 and files[1]["incomplete"] is True and files[1]["closed"] is True
    assert isinstance(files[1]["records"], int) and files[1]["records"] >= 100
    assert StateFile(str(image)).load().volume.incomplete == [6]
    assert "(incomplete)" in vmt("ls", str(image)).output.splitlines()[1]
    assert vmt("verify", str(image)).exit_code == 0
    # a later write starts a new, complete file after the incomplete one
    assert vmt("write", str(image), str(first)).exit_code == 0
    assert [f["incomplete"] for f in listing(image)] == [False, True, False]


def test_no_space_marks_the_file_incomplete_and_exits_1(tmp_path: Path) -> None:
    image = tmp_path / "small.tap"
    big = tmp_path / "big.bin"
    big.write_bytes(b"y" * 200_000)
    assert vmt("new", str(image), "--capacity", "64k").exit_code == 0
    done = subprocess.run(
        check=False, args=[*VMT, "write", str(image), str(big)], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"vmt: {image}: end of medium (early warning); tape file 0 is incomplete "
        "(5 records written)\n"
    )
    files = listing(image)
    assert [(f["records"], f["incomplete"], f["closed"]) for f in files] == [(5, True, True)]


def test_a_source_that_cannot_be_read_writes_nothing_and_exits_1(tmp_path: Path) -> None:
    image = tmp_path / "vol.tap"
    data = tmp_path / "d.bin"
    data.write_bytes(b"d" * 10)
    assert vmt("new", str(image)).exit_code == 0
    for bad in (tmp_path / "missing", tmp_path):
        done = subprocess.run(
            check=False,
            args=[*VMT, "write", str(image), str(data), str(bad)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith(f"vmt: {bad}: ")
    assert image.stat().st_size == 0


def test_ctrl_c_is_held_off_while_a_record_goes_to_the_image() -> None:
    from rmtd.vmt.writing import _Interrupts

    interrupts = _Interrupts()
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt), interrupts.held():
        interrupts.handler(signal.SIGINT, None)  # arrives mid-record: noted, not raised
        steps.append("record finished")
    assert steps == ["record finished"]
    with pytest.raises(KeyboardInterrupt):
        interrupts.handler(signal.SIGINT, None)  # anywhere else: at once
    interrupts.ignore()
    interrupts.handler(signal.SIGINT, None)  # while the drive closes: ignored
