"""dump's rdump and rrestore, unchanged, on a virtual tape through rmtd.

rdump needs a block device: an ext2 image made by ``mke2fs -d`` on a loop device.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.interface import OpenOptions
from devices.tapemap import TapeFileSummary, summarize
from devices.vtape import open_tape_image
from tests.e2e.conftest import Run
from tests.golden.capture import loop_device

pytestmark = pytest.mark.e2e

SPEC = "localhost:dumps.tap/nomount/norewind/nounload"


def filesystem(tmp_path: Path, name: str, files: dict[str, bytes]) -> Iterator[str]:
    source = tmp_path / f"{name}-src"
    source.mkdir()
    for file, data in files.items():
        (source / file).write_bytes(data)
    image = tmp_path / f"{name}.img"
    subprocess.run(
        ["mke2fs", "-q", "-t", "ext2", "-d", str(source), str(image), "4M"],
        check=True,
        capture_output=True,
    )
    with loop_device(image) as loop:
        yield loop


@pytest.fixture
def first_fs(tmp_path: Path) -> Iterator[str]:
    yield from filesystem(tmp_path, "one", {"alpha.txt": b"alpha\n" * 3000})


@pytest.fixture
def second_fs(tmp_path: Path) -> Iterator[str]:
    yield from filesystem(tmp_path, "two", {"beta.bin": bytes(range(256)) * 300, "c": b"c\n"})


def summarize_image(path: Path) -> list[TapeFileSummary]:
    drive = open_tape_image(str(path), OpenOptions(nonblock=True))
    try:
        return summarize(drive.image.index)
    finally:
        drive.close()


def mt(run: Run, *args: str) -> None:
    run("mt-gnu", "--rsh-command=" + str(Path(__file__).with_name("fakersh")), "-f", SPEC, *args)


def test_two_dumps_then_restore_from_the_second(
    run: Run, served: Path, tmp_path: Path, first_fs: str, second_fs: str
) -> None:
    run("rdump", "-0", "-f", SPEC, first_fs)
    run("rdump", "-0", "-f", SPEC, second_fs)
    mt(run, "rewind")
    listing = run("rrestore", "-t", "-f", SPEC).stdout
    assert "./alpha.txt" in listing and "beta.bin" not in listing
    mt(run, "rewind")
    out = tmp_path / "restored"
    out.mkdir()
    # restore -x asks which volume to start with and whether to set the owner of "."
    run("rrestore", "-x", "-s", "2", "-f", SPEC, "./beta.bin", cwd=out, stdin="1\nn\n")
    assert (out / "beta.bin").read_bytes() == bytes(range(256)) * 300


def test_rdump_with_64k_records(run: Run, served: Path, first_fs: str) -> None:
    run("rdump", "-0", "-b", "64", "-f", SPEC, first_fs)
    mt(run, "rewind")
    listing = run("rrestore", "-t", "-b", "64", "-f", SPEC).stdout
    assert "./alpha.txt" in listing
    files = summarize_image(served / "dumps.tap")
    assert files[0].largest == 65536
