"""GNU cpio, unchanged, writes and reads an archive on a virtual tape through rmtd."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import FAKERSH, Run

pytestmark = pytest.mark.e2e


def test_cpio_out_and_in(run: Run, served: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    names = []
    for n in range(5):
        (src / f"f{n}.dat").write_bytes(bytes([n]) * (n * 1000 + 7))
        names.append(f"f{n}.dat")
    device = "localhost:arch.tap/nomount/norewind/nounload"
    run(
        "cpio",
        "-o",
        "-H",
        "newc",
        f"--rsh-command={FAKERSH}",
        "-F",
        device,
        cwd=src,
        stdin="\n".join(names) + "\n",
    )
    assert (served / "arch.tap").stat().st_size > 5 * 512
    # back to BOT for the reader: mt-gnu rewind on the same drive
    run("mt-gnu", f"--rsh-command={FAKERSH}", "-f", device, "rewind")
    listing = run("cpio", "-t", f"--rsh-command={FAKERSH}", "-F", device).stdout.split()
    assert listing == names
    run("mt-gnu", f"--rsh-command={FAKERSH}", "-f", device, "rewind")
    out = tmp_path / "out"
    out.mkdir()
    run("cpio", "-i", f"--rsh-command={FAKERSH}", "-F", device, cwd=out)
    for name in names:
        assert (out / name).read_bytes() == (src / name).read_bytes()
