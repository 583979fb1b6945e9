"""User report e: every way of write-protecting a volume shows WR_PROT and refuses writes.

The protect tab (``vmt protect``), a read-only image file (no w bits, even for root),
``rmtd --read-only`` and ``/NOWRITE``: a client's ``S`` status shows WR_PROT and a write open
gets EROFS; ``vmt new --force`` does not replace a protected volume. (Reports a to d are in
``test_user_reports.py``.)
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from rmtd.client import RemoteName, RemoteTape
from tests.integrity.helpers import FAKERSH, clean_env, one_line, rmtd_command, vmt, vmt_remote

pytestmark = pytest.mark.e2e


PROTECTIONS = ["protect-tab", "read-only-file", "rmtd-read-only", "nowrite"]


def _protect(served: Path, how: str) -> tuple[str, str]:
    """Protect ``vol.tap`` in ``served`` as ``how`` says; return rmtd's command and the spec."""
    image = served / "vol.tap"
    command, spec = rmtd_command(served), "localhost:vol.tap"
    if how == "protect-tab":
        assert vmt(served, "protect", "vol.tap").returncode == 0
    elif how == "read-only-file":
        image.chmod(0o444)
    elif how == "rmtd-read-only":
        command = rmtd_command(served, "--read-only")
    else:
        spec += "/nowrite"
    return command, spec


@pytest.mark.parametrize("how", PROTECTIONS)
def test_write_protection_shows_wr_prot_and_refuses_write_opens_with_erofs(
    tmp_path: Path, how: str
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (tmp_path / "a.bin").write_bytes(b"a" * 5000)
    assert vmt(served, "write", "vol.tap", str(tmp_path / "a.bin")).returncode == 0
    command, spec = _protect(served, how)
    before = (served / "vol.tap").read_bytes()

    status = vmt_remote(tmp_path, command, spec, "status")
    assert status.returncode == 0, status.stderr
    assert "WR_PROT" in status.stdout.splitlines()[-1].split(), status.stdout

    for flags in (os.O_RDWR, os.O_WRONLY, os.O_RDWR | os.O_CREAT):
        with pytest.raises(OSError) as refused:
            RemoteTape.connect(
                RemoteName("localhost", spec.removeprefix("localhost:")),
                flags,
                rsh_command=FAKERSH,
                rmt_command=command,
                env=clean_env(),
                stderr=subprocess.DEVNULL,
                timeout=30,
            ).close()
        assert refused.value.errno == errno.EROFS, (flags, refused.value)

    weof = vmt_remote(tmp_path, command, spec, "weof")
    assert weof.returncode == 1
    assert (served / "vol.tap").read_bytes() == before


@pytest.mark.parametrize("how", ["protect-tab", "read-only-file"])
def test_a_protected_volume_is_not_replaced_by_vmt_new_force(tmp_path: Path, how: str) -> None:
    (tmp_path / "a.bin").write_bytes(b"a" * 5000)
    assert vmt(tmp_path, "write", "vol.tap", "a.bin").returncode == 0
    _protect(tmp_path, how)
    before = (tmp_path / "vol.tap").read_bytes()
    local = vmt(tmp_path, "-f", "vol.tap", "status")
    assert "WR_PROT" in local.stdout.splitlines()[-1].split(), local.stdout
    state = Path(f"{tmp_path / 'vol.tap'}.rmtd").read_bytes()
    line = one_line(vmt(tmp_path, "new", "--force", "vol.tap"))
    assert "write-protected" in line or "read-only" in line, line
    assert (tmp_path / "vol.tap").read_bytes() == before
    assert Path(f"{tmp_path / 'vol.tap'}.rmtd").read_bytes() == state
    written = vmt(tmp_path, "write", "vol.tap", "a.bin")
    assert written.returncode == 1
    assert "write-protected" in written.stderr or "read-only" in written.stderr, written.stderr
    assert (tmp_path / "vol.tap").read_bytes() == before
