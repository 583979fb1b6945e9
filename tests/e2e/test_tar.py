"""GNU tar and mt-gnu, unchanged, on a virtual tape through rmtd."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import FAKERSH, Run

pytestmark = pytest.mark.e2e

SPEC = "vol.tap/nomount/norewind/nounload"


def tree(base: Path, name: str, files: int) -> Path:
    top = base / name
    top.mkdir()
    for n in range(files):
        (top / f"{name}-{n}.txt").write_text(f"{name} file {n}\n" * (n * 300 + 1))
    return top


def tar(run: Run, *args: str) -> str:
    return run("tar", f"--rsh-command={FAKERSH}", "--rmt-command=rmtd", *args).stdout


def mt(run: Run, *args: str, check: bool = True) -> str:
    done = run("mt-gnu", f"--rsh-command={FAKERSH}", "-f", f"localhost:{SPEC}", *args, check=check)
    return done.stdout


def position(served: Path) -> tuple[int, int]:
    from devices.state import StateFile

    drive = StateFile(str(served / "vol.tap")).load().drive
    return drive.fileno, drive.blkno


def test_two_archives_on_one_tape_and_back(run: Run, served: Path, tmp_path: Path) -> None:
    first, second = tree(tmp_path, "first", 4), tree(tmp_path, "second", 3)
    tar(run, "-cf", f"localhost:{SPEC}", "-C", str(tmp_path), "first")
    assert position(served) == (1, 0)
    tar(run, "-cf", f"localhost:{SPEC}", "-C", str(tmp_path), "second")
    assert position(served) == (2, 0)

    mt(run, "rewind")
    assert position(served) == (0, 0)
    listing = tar(run, "-tf", f"localhost:{SPEC}")
    assert sorted(listing.split()) == sorted(
        ["first/"] + [f"first/first-{n}.txt" for n in range(4)]
    )
    mt(run, "fsf", "1")
    assert position(served) == (1, 0)
    out = tmp_path / "out"
    out.mkdir()
    tar(run, "-xf", f"localhost:{SPEC}", "-C", str(out))
    for n in range(3):
        name = f"second-{n}.txt"
        assert (out / "second" / name).read_text() == (second / name).read_text()
    assert not (out / "first").exists()
    assert first.exists()


def test_mt_positioning_gives_st_numbers(run: Run, served: Path, tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        tree(tmp_path, name, 2)
        tar(run, "-b", "1", "-cf", f"localhost:{SPEC}", "-C", str(tmp_path), name)
    mt(run, "rewind")
    assert position(served) == (0, 0)
    mt(run, "fsf", "2")
    assert position(served) == (2, 0)
    mt(run, "bsf", "1")
    assert position(served) == (1, -1)
    mt(run, "rewind")
    mt(run, "fsr", "3")
    assert position(served) == (0, 3)
    mt(run, "eom")
    assert position(served) == (3, -1)
    mt(run, "weof", "1")
    assert position(served) == (4, 0)
    mt(run, "offline")
    from devices.state import StateFile

    assert not StateFile(str(served / "vol.tap")).load().drive.loaded
    failed = run(
        "mt-gnu", f"--rsh-command={FAKERSH}", "-f", f"localhost:{SPEC}", "fsf", check=False
    )
    assert failed.returncode != 0 and re.search(r"medium", failed.stderr, re.I)
