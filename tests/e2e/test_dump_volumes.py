"""rdump across two volumes: the first tape ends (an injected end of medium), dump goes on.

dump ``-a`` writes until the tape reports its end (ENOSPC, what a drive's end of medium and
rmtd's injected ``end_of_medium_at`` give), then, with the next volume named in ``-f a,b``,
carries on there without asking; rrestore reads the file back across both volumes (it asks for
the next tape's name: answered on its standard input).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from rmtd.testing import Faults, faults_config
from tests.e2e.conftest import RMTD, Run
from tests.e2e.test_dump import filesystem

pytestmark = pytest.mark.e2e

DATA = os.urandom(600_000)  # more than the first volume holds; random: no compression


ENDINGS = {
    "end_of_medium_at": Faults(end_of_medium_at=256 << 10),
    "early_warning_at": Faults(early_warning_at=256 << 10),
}


@pytest.fixture(params=sorted(ENDINGS))
def ending(request: pytest.FixtureRequest) -> str:
    """How the first volume ends: at its physical end, or at early warning."""
    name: str = request.param
    return name


@pytest.fixture
def server(served: Path, tmp_path: Path, ending: str) -> str:
    """rmtd whose ``vol1.tap`` ends (or warns) after 256 KiB."""
    config = tmp_path / "rmtd.toml"
    config.write_text(faults_config({"vol1.tap": ENDINGS[ending]}))
    log = tmp_path / "rmtd.log"
    return (
        f"{shlex.quote(RMTD)} --root {shlex.quote(str(served))} "
        f"--config {shlex.quote(str(config))} -v --log {log}"
    )


@pytest.fixture
def big_fs(tmp_path: Path) -> Iterator[str]:
    yield from filesystem(tmp_path, "big", {"big.bin": DATA})


def test_rdump_continues_on_the_next_volume_at_end_of_medium(
    run: Run, served: Path, tmp_path: Path, big_fs: str, ending: str
) -> None:
    # dump sends the names after the first as they are written, to the first name's host.
    done = run("rdump", "-0", "-a", "-f", "localhost:vol1.tap,vol2.tap", big_fs)
    assert "DUMP: End of tape detected" in done.stderr
    assert "DUMP: Dumping volume 2 on vol2.tap" in done.stderr
    # Up to the end (past early warning, writes that alternate with ENOSPC may still land).
    assert 240 << 10 <= (served / "vol1.tap").stat().st_size < len(DATA)
    assert (served / "vol2.tap").stat().st_size > 0
    log = (tmp_path / "rmtd.log").read_text()
    assert f"vol1.tap: injected fault {ending} (ENOSPC)" in log
    out = tmp_path / "restored"
    out.mkdir()
    # rrestore -x asks which volume to start with, the next tape's name (on the same host)
    # when the first ends, and about the owner of ".".
    run(
        "rrestore", "-x", "-f", "localhost:vol1.tap", "./big.bin", cwd=out, stdin="1\nvol2.tap\nn\n"
    )
    assert (out / "big.bin").read_bytes() == DATA
