"""GNU tar and mt-gnu, unchanged, on a virtual tape through rmtd."""

from __future__ import annotations

import re
import sys
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


def client_position(run: Run) -> tuple[int, int]:
    """File and block number as a client sees them: ``S`` through rmtd, printed by vmt.

    (mt-gnu's own status cannot show them: GNU mt up to 2.15 rejects any struct mtget
    larger than 8 bytes, see ``rmt_ioctl__`` in tar 1.34's rtapelib.c; ``vmt -f host:DEVICE
    status`` prints mt-st's text.)
    """
    vmt = str(Path(sys.executable).with_name("vmt"))
    out = run(vmt, "--rsh-command", FAKERSH, "-f", f"localhost:{SPEC}", "status").stdout
    found = re.search(r"File number=(-?\d+), block number=(-?\d+)", out)
    assert found, out
    return int(found[1]), int(found[2])


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
    steps = [
        (("rewind",), (0, 0)),
        (("fsf", "2"), (2, 0)),
        (("bsf", "1"), (1, -1)),
        (("rewind",), (0, 0)),
        (("fsr", "3"), (0, 3)),
        (("bsr", "1"), (0, 2)),
        (("eom",), (3, -1)),
        (("weof", "1"), (4, 0)),
    ]
    for args, expected in steps:
        mt(run, *args)
        assert position(served) == expected, args
        assert client_position(run) == expected, args
    mt(run, "offline")
    from devices.state import StateFile

    assert not StateFile(str(served / "vol.tap")).load().drive.loaded
    failed = run(
        "mt-gnu", f"--rsh-command={FAKERSH}", "-f", f"localhost:{SPEC}", "fsf", check=False
    )
    assert failed.returncode != 0 and re.search(r"medium", failed.stderr, re.I)


def test_tar_verify_rereads_the_archive_from_the_tape(
    run: Run, served: Path, tmp_path: Path
) -> None:
    # GNU tar's verify_volume (src/compare.c) backs up with MTBSF 1, twice if it fails with
    # EIO (it does at BOT: st writes the closing filemark first and spaces over one more),
    # then needs lseek(0, SEEK_SET) to answer 0, as Linux st's noop_llseek does.
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("original\n")
    (source / "big.bin").write_bytes(bytes(range(256)) * 400)  # several 10 KiB records
    args = ("-cvW", "-f", f"localhost:{SPEC}", "-C", str(source), "a.txt", "big.bin")
    done = run("tar", f"--rsh-command={FAKERSH}", "--rmt-command=rmtd", *args)
    assert done.stdout.splitlines() == ["a.txt", "big.bin", "Verify a.txt", "Verify big.bin"]
    assert done.stderr == ""  # before: "tar: Cannot seek" (ESPIPE), and no verify pass

    # A file that changes after it was archived is reported: the verify pass compares.
    mt(run, "rewind")
    change = f"--checkpoint-action=exec=echo changed >> {source / 'a.txt'}"
    failed = run(
        "tar", f"--rsh-command={FAKERSH}", "--rmt-command=rmtd", "--checkpoint=1", change,
        *args, check=False,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    assert "a.txt: Size differs" in failed.stdout.split("Verify a.txt\n")[1]
    assert "big.bin:" not in failed.stdout
    mt(run, "rewind")  # the verify pass left the tape inside the archive
    listing = tar(run, "-tf", f"localhost:{SPEC}")
    assert listing.split() == ["a.txt", "big.bin"]


def test_tar_b_32768_writes_16_mib_records_to_a_plain_file(
    run: Run, served: Path, tmp_path: Path
) -> None:
    # tar -b 32768 sends W16777216: one byte more than a SIMH record can hold, but a plain
    # file takes it, as rmt-tar and rmt-dump do (the default max_record is 64 MiB).
    source = tmp_path / "src"
    source.mkdir()
    data = bytes(range(251)) * (17 * 4200)  # a little over 17 MB
    (source / "big.bin").write_bytes(data)
    tar(run, "-b", "32768", "-cf", "localhost:big.tar", "-C", str(source), "big.bin")
    assert (served / "big.tar").stat().st_size == 2 * 16777216  # two whole records
    assert tar(run, "-b", "32768", "-tf", "localhost:big.tar").split() == ["big.bin"]
    out = tmp_path / "out"
    out.mkdir()
    tar(run, "-b", "32768", "-xf", "localhost:big.tar", "-C", str(out))
    assert (out / "big.bin").read_bytes() == data
