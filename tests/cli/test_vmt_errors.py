"""``vmt`` exit codes and messages: one line, never a traceback; --version; status --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

VMT = [sys.executable, "-c", "from rmtd.vmt import main; main()"]
RMTD = [sys.executable, "-c", "from rmtd.cli import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VMT, *args], capture_output=True, text=True, check=False)


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    """An image with one tape file of 1 MiB (more than a pipe holds) and one of 3 bytes."""
    image = tmp_path / "t.tap"
    (tmp_path / "big.bin").write_bytes(b"b" * (1 << 20))
    (tmp_path / "small.bin").write_bytes(b"abc")
    done = run("write", str(image), str(tmp_path / "big.bin"), str(tmp_path / "small.bin"))
    assert done.returncode == 0, done.stderr
    return image


def one_line(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("vmt: "), done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["ls", "{d}"],
        ["read", "{d}", "--file", "0"],
        ["verify", "{d}"],
        ["repair", "{d}"],
        ["new", "{d}"],
        ["new", "--force", "{d}"],
        ["write", "{d}", "{f}"],
        ["protect", "{d}"],
        ["-f", "{d}", "status"],
        ["-f", "{d}", "weof"],
    ],
)
def test_a_directory_as_image_is_an_operation_error(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "f").write_bytes(b"x")
    words = [a.format(d=tmp_path, f=tmp_path / "f") for a in args]
    message = one_line(run(*words), 1)
    assert str(tmp_path) in message and "directory" in message.lower()


@pytest.mark.parametrize(
    "args", [["ls", "{m}"], ["read", "{m}", "--file", "0"], ["verify", "{m}"], ["-f", "{m}", "fsf"]]
)
def test_a_missing_image_is_an_operation_error(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "missing.tap"
    message = one_line(run(*[a.format(m=missing) for a in args]), 1)
    assert str(missing) in message
    assert not missing.exists()


def test_usage_errors_are_one_line_exit_2(tape: Path) -> None:
    assert one_line(run("-f", str(tape), "fsf", "-1"), 2) == "vmt: negative repeat count\n"
    assert one_line(run("-f", str(tape), "fsf", "-0x10"), 2) == "vmt: negative repeat count\n"
    assert one_line(run("-f", str(tape), "fsf", "two"), 2) == "vmt: illegal count 'two'\n"
    assert "unknown command" in one_line(run("-f", str(tape), "frob"), 2)
    assert "Missing argument" in one_line(run("ls"), 2)
    assert "No such option" in one_line(run("ls", "--bogus", str(tape)), 2)
    assert "no tape device" in one_line(run("status"), 2)


def test_a_reader_that_goes_away_ends_vmt_silently_as_sigpipe_ends_cat(tape: Path) -> None:
    # GNU cat in "cat big | head -c 1" dies of SIGPIPE: no message, status 141 in the shell.
    proc = subprocess.Popen(
        [*VMT, "read", str(tape), "--file", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(1) == b"b"
    proc.stdout.close()  # more than a pipe holds is still to come: the next write fails
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait() == 141
    assert stderr == b""
    shell = subprocess.run(
        [
            "bash",
            "-o",
            "pipefail",
            "-c",
            f"{' '.join(VMT[:2])} '{VMT[2]}' read {tape} --file 0 | head -c 1 >/dev/null",
        ],
        capture_output=True,
        check=False,
    )
    assert (shell.returncode, shell.stderr) == (141, b"")


def test_version_of_vmt_and_rmtd() -> None:
    from importlib.metadata import version

    expected = version("rmtd")
    vmt = subprocess.run([*VMT, "--version"], capture_output=True, text=True, check=False)
    assert (vmt.returncode, vmt.stdout) == (0, f"vmt, version {expected}\n")
    rmtd = subprocess.run([*RMTD, "--version"], capture_output=True, text=True, check=False)
    assert (rmtd.returncode, rmtd.stdout) == (0, f"rmtd, version {expected}\n")


def test_status_and_tell_as_json(tape: Path) -> None:
    assert run("-f", str(tape), "rewind").returncode == 0
    assert run("-f", str(tape), "fsf", "1").returncode == 0
    status = json.loads(run("-f", str(tape), "status", "--json").stdout)
    assert status == {
        "file": 1,
        "block": 0,
        "partition": 0,
        "block_size": 0,
        "density": 0,
        "density_name": "default",
        "gstat": 0x81010000,
        "bits": ["EOF", "ONLINE", "IM_REP_EN"],
        "position": 104,  # 103 records of 10240 bytes (the last shorter) and a filemark
    }
    tell = json.loads(run("-f", str(tape), "tell", "--json").stdout)
    assert tell["position"] == 104 and tell["file"] == 1
    assert run("-f", str(tape), "tell").stdout == "At block 104.\n"  # text unchanged
    assert run("-f", str(tape), "offline").returncode == 0
    unloaded = json.loads(run("-f", str(tape), "status", "--json").stdout)
    assert unloaded["position"] is None and "DR_OPEN" in unloaded["bits"]
    assert "no medium" in one_line(run("-f", str(tape), "tell", "--json"), 1)
    assert one_line(run("-f", str(tape), "fsf", "--json"), 2) == "vmt: illegal count '--json'\n"


def test_vmt_alone_shows_its_help_and_exits_2() -> None:
    done = run()
    assert done.returncode == 2
    assert done.stderr.startswith("Usage: ") and "COMMAND [ARGS]..." in done.stderr
    assert "verify" in done.stderr and "repair" in done.stderr
