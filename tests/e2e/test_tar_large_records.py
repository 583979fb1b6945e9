"""GNU tar with 64 KiB records (``-b 128``) through rmtd at every ``--sync`` level.

64 KiB records take the fast paths: each ``W`` line is read on its own so that the payload
lands straight in the record buffer, and each ``R`` is answered with ``sendfile`` from the
image or the plain file. What tar reads back must be byte for byte what it wrote.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import FAKERSH, Run

pytestmark = pytest.mark.e2e


def make_tree(top: Path) -> dict[str, bytes]:
    """Files of mixed sizes (some over a record, one over a megabyte) with random bytes."""
    top.mkdir()
    rng = random.Random(8)
    files = {}
    for n, size in enumerate([0, 1, 511, 65536, 65537, 200_000, 1_300_000]):
        data = rng.randbytes(size)
        (top / f"f{n}.bin").write_bytes(data)
        files[f"f{n}.bin"] = data
    return files


@pytest.mark.parametrize("sync", ["close", "filemark", "record"])
@pytest.mark.parametrize("target", ["vol.tap/nomount", "archive.tar"])
def test_tar_b128_round_trip(
    run: Run, server: str, served: Path, tmp_path: Path, sync: str, target: str
) -> None:
    files = make_tree(tmp_path / "tree")
    env = {"SERVER": f"{server} --sync {sync}"}
    tar = ("tar", f"--rsh-command={FAKERSH}", "--rmt-command=rmtd", "-b", "128")
    run(*tar, "-cf", f"localhost:{target}", "-C", str(tmp_path), "tree", env=env)
    out = tmp_path / "out"
    out.mkdir()
    run(*tar, "-xf", f"localhost:{target}", "-C", str(out), env=env)
    for name, data in files.items():
        assert (out / "tree" / name).read_bytes() == data, name
    if target.endswith("/nomount"):
        vmt = str(Path(sys.executable).with_name("vmt"))
        verdict = run(vmt, "verify", str(served / "vol.tap")).stdout
        assert "damage" not in verdict.lower(), verdict
    log = (tmp_path / "rmtd.log").read_text()
    assert "ERROR" not in log and "Traceback" not in log
