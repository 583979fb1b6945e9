"""The pytest plugin, used as a test suite uses it: GNU tar against tapes rmtd serves.

``pytester`` runs each example in a fresh pytest of its own, where the plugin is found through its
``pytest11`` entry point, as in a project that only installed rmtd
(tests/install/test_plugin_installed.py does the same from the built wheel alone).
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TAR_EIO = """
import errno
import subprocess

from rmtd.testing import Faults, NthError, Random, Tape


def test_tar_reports_a_read_error(rmt_server):
    tape = Tape("simh")
    tape.file(Random(size=10240, count=5))
    device = rmt_server.tape("vol.tap", tape, Faults(read_error=NthError(3, errno.EIO)))
    done = subprocess.run(
        ["tar", f"--rsh-command={rmt_server.rsh}", "-tf", device],
        capture_output=True, text=True,
    )
    assert done.returncode != 0
    assert "Cannot read: Input/output error" in done.stderr
    assert "injected fault read_error (EIO) on read 3" in rmt_server.log.read_text()
"""

TAR_ROUND_TRIP = """
import subprocess


def test_tar_writes_and_reads_back(rmt_server, tmp_path):
    (tmp_path / "a.txt").write_text("hello\\n" * 5000)
    device = rmt_server.tape("vol.tap")
    tar = ["tar", f"--rsh-command={rmt_server.rsh}"]
    subprocess.run([*tar, "-cf", device, "-C", str(tmp_path), "a.txt"], check=True)
    assert rmt_server.files("vol.tap") == [[10240] * 4]  # tar's 20-block records, a filemark
    listing = subprocess.run([*tar, "-tf", device], check=True, capture_output=True, text=True)
    assert listing.stdout == "a.txt\\n"
"""

DRIVE = """
import subprocess

from rmtd.testing import Tape, Tar


def test_a_named_drive_loads_and_unloads(rmt_server, tmp_path):
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.txt").write_text(name)
        tape = Tape("simh")
        tape.file(Tar(tmp_path / name))
        rmt_server.tape(f"{name}.tap", tape)
    device = rmt_server.drive("mua0", image="one.tap")
    tar = ["tar", f"--rsh-command={rmt_server.rsh}", "-tf", device]
    listed = subprocess.run(tar, check=True, capture_output=True, text=True)
    assert listed.stdout == "one/\\none/one.txt\\n"
    rmt_server.unload("mua0")
    empty = subprocess.run(tar, capture_output=True, text=True)
    assert empty.returncode != 0 and "No medium found" in empty.stderr
    rmt_server.load("mua0", "two.tap")
    listed = subprocess.run(tar, check=True, capture_output=True, text=True)
    assert listed.stdout == "two/\\ntwo/two.txt\\n"
"""


@pytest.mark.parametrize("source", [TAR_EIO, TAR_ROUND_TRIP, DRIVE], ids=["eio", "tar", "drive"])
def test_the_plugin_serves_tapes_to_real_clients(pytester: pytest.Pytester, source: str) -> None:
    pytester.makepyfile(source)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
