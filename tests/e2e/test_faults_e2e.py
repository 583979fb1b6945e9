"""Injected faults seen by real clients: GNU tar, vmt, through rmtd started with --config."""

from __future__ import annotations

import errno
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from devices.interface import GeneralStatus
from rmtd.client import RemoteTape
from rmtd.testing import Faults, NthError, faults_config
from tests.e2e.conftest import FAKERSH, RMTD, Run
from tests.e2e.test_tar import tree

pytestmark = pytest.mark.e2e

FAULTS = {
    "flaky.tap": Faults(read_error=NthError(3, errno.EIO)),
    "small.tap": Faults(end_of_medium_at=32 << 10),
    "gone.tap": Faults(disappear_after=0),
    "warn.tap": Faults(early_warning_at=3 * 10248),
    "badwrite.tap": Faults(write_error=NthError(2, errno.EIO)),
    "stuck.tap": Faults(delay=0.05),
}


@pytest.fixture
def server(served: Path, tmp_path: Path) -> str:
    """``rmtd --root served --config rmtd.toml``, the config holding :data:`FAULTS`."""
    config = tmp_path / "rmtd.toml"
    config.write_text(faults_config(FAULTS))
    log = tmp_path / "rmtd.log"
    return (
        f"{shlex.quote(RMTD)} --root {shlex.quote(str(served))} "
        f"--config {shlex.quote(str(config))} -v --log {log}"
    )


def tar(run: Run, *args: str, check: bool = True) -> tuple[int, str]:
    done = run("tar", f"--rsh-command={FAKERSH}", "--rmt-command=rmtd", *args, check=check)
    return done.returncode, done.stderr


def test_tar_reading_a_tape_whose_third_read_fails(run: Run, served: Path, tmp_path: Path) -> None:
    tree(tmp_path, "data", 8)  # about 100 KiB: ten 10 KiB records
    tar(run, "-cf", "localhost:flaky.tap", "-C", str(tmp_path), "data")
    assert (served / "flaky.tap").stat().st_size > 3 * 10240
    code, stderr = tar(run, "-tf", "localhost:flaky.tap", check=False)
    assert code == 2
    assert "tar: localhost\\:flaky.tap: Cannot read: Input/output error" in stderr
    log = (tmp_path / "rmtd.log").read_text()
    assert "flaky.tap: injected fault read_error (EIO) on read 3" in log


def test_tar_writing_past_the_end_of_medium(run: Run, tmp_path: Path) -> None:
    tree(tmp_path, "data", 8)
    code, stderr = tar(run, "-cf", "localhost:small.tap", "-C", str(tmp_path), "data", check=False)
    assert code == 2
    assert "tar: localhost\\:small.tap: Cannot write: No space left on device" in stderr
    log = (tmp_path / "rmtd.log").read_text()
    assert "small.tap: injected fault end_of_medium_at (ENOSPC) on write 4" in log


def test_a_medium_that_disappears(run: Run, served: Path, tmp_path: Path) -> None:
    from devices.state import VolumeInfo
    from devices.vtape import create_tape_image

    create_tape_image(str(served / "gone.tap"), VolumeInfo())
    vmt = str(Path(sys.executable).with_name("vmt"))
    done = run(vmt, "--rsh-command", FAKERSH, "-f", "localhost:gone.tap", "status", check=False)
    assert done.returncode != 0
    assert "gone.tap: injected disappear_after fault (ENOMEDIUM) on status" in done.stderr
    assert (
        "gone.tap: injected fault disappear_after (ENOMEDIUM)"
        in (tmp_path / "rmtd.log").read_text()
    )


def test_early_warning_through_the_python_client(server: str, tmp_path: Path) -> None:
    env = {**os.environ, "SERVER": server}
    flags = os.O_RDWR | os.O_CREAT
    record = bytes(10240)
    with RemoteTape.connect(
        "localhost:warn.tap", flags, rsh_command=FAKERSH, rmt_command="rmtd", env=env
    ) as tape:
        results = [_errno(lambda: tape.write(record)) for _ in range(6)]
        eot = tape.status().gstat & GeneralStatus.EOT
    # Records 1-3 end at 30744 bytes of image: the 3rd reaches early warning, then
    # every other write is refused, as the drive does past its capacity's early warning.
    assert results == [None, None, None, errno.ENOSPC, None, errno.ENOSPC]
    assert eot
    log = (tmp_path / "rmtd.log").read_text()
    assert "warn.tap: injected fault early_warning_at (ENOSPC) on write 4" in log


def _errno(call: Callable[[], object]) -> int | None:
    try:
        call()
    except OSError as exc:
        return exc.errno
    return None


def test_tar_writing_to_a_tape_whose_second_write_fails(run: Run, tmp_path: Path) -> None:
    tree(tmp_path, "data", 8)
    code, stderr = tar(
        run, "-cf", "localhost:badwrite.tap", "-C", str(tmp_path), "data", check=False
    )
    assert code == 2
    assert "tar: localhost\\:badwrite.tap: Cannot write: Input/output error" in stderr
    log = (tmp_path / "rmtd.log").read_text()
    assert "badwrite.tap: injected fault write_error (EIO) on write 2" in log


def test_tar_through_a_stuck_drive_still_gets_its_archive(run: Run, tmp_path: Path) -> None:
    tree(tmp_path, "data", 3)
    tar(run, "-cf", "localhost:stuck.tap", "-C", str(tmp_path), "data")
    code, stderr = tar(run, "-tf", "localhost:stuck.tap")
    assert code == 0, stderr
    log = (tmp_path / "rmtd.log").read_text()
    assert "stuck.tap: injected fault delay" in log  # slow, not failing: the client waits
