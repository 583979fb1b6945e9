"""GNU tar and an RMT client read CD-ROM images through rmtd's /CD qualifier.

/CD serves a file as what a CD-ROM drive gives: the medium's bytes as a read-only device of
2048-byte sectors (``devices/cdrom.py``), not the files of its ISO 9660 file system. So the two
things a user does with a disc through rmtd are tested as they happen:

* a tar archive written raw to a CD-R (``cdrecord -data archive.tar``, as people archive to
  optical media) is read by tar from the drive: here ``archive.tar/CD``, made by tar, read with
  ``tar -b 4`` (one 2048-byte sector per read) and tar's default 10240-byte records;
* a disc holding an ISO 9660 file system (made in the test with ``xorriso -as mkisofs``, with a
  tar archive among its files) is copied sector by sector through rmtd with the Python RMT
  client, as ``dd if=host:disc.iso/CD`` would; the copy is byte-identical to the image, its
  volume descriptor is where ISO 9660 puts it (sector 16, reached by lseek), and xorriso
  extracts the archive from the copy for tar to list. That is "tar reads an archive from an
  ISO image with /CD" end to end.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rmtd.client.names import RemoteName
from rmtd.client.tape import RemoteTape
from tests.e2e.conftest import FAKERSH, Run
from tests.integrity.helpers import clean_env, rmtd_command

pytestmark = pytest.mark.e2e

SECTOR = 2048


def make_tree(base: Path) -> Path:
    top = base / "docs"
    top.mkdir()
    for n in range(5):
        (top / f"doc-{n}.txt").write_text(f"document {n}\n" * (n * 700 + 3))
    (top / "random.bin").write_bytes(os.urandom(150_000))
    return top


def tar(run: Run, *args: str) -> str:
    return run("tar", f"--rsh-command={FAKERSH}", "--rmt-command=rmtd", *args).stdout


def expected_listing(top: Path) -> list[str]:
    return sorted([f"{top.name}/", *(f"{top.name}/{p.name}" for p in top.iterdir())])


@pytest.mark.parametrize("blocking", ["4", "20"])
def test_tar_reads_an_archive_written_raw_to_a_cd(
    run: Run, served: Path, tmp_path: Path, blocking: str
) -> None:
    top = make_tree(tmp_path)
    archive = served / "archive.tar"
    subprocess.run(["tar", "-cf", str(archive), "-C", str(tmp_path), top.name], check=True)
    assert archive.stat().st_size % SECTOR == 0  # tar pads to 10240 bytes: whole sectors
    before = archive.read_bytes()

    listing = tar(run, "-b", blocking, "-tf", "localhost:archive.tar/CD")
    assert sorted(listing.split()) == expected_listing(top)

    out = tmp_path / "out"
    out.mkdir()
    tar(run, "-b", blocking, "-xf", "localhost:archive.tar/CD", "-C", str(out))
    for path in top.iterdir():
        assert (out / top.name / path.name).read_bytes() == path.read_bytes()
    assert archive.read_bytes() == before  # the disc is only read


def test_a_cd_refuses_what_a_drive_refuses(run: Run, served: Path, tmp_path: Path) -> None:
    top = make_tree(tmp_path)
    subprocess.run(
        ["tar", "-cf", str(served / "archive.tar"), "-C", str(tmp_path), top.name], check=True
    )
    before = (served / "archive.tar").read_bytes()
    # Writing a CD fails, and leaves the disc as it was.
    done = tar_done(run, "-cf", "localhost:archive.tar/CD", "-C", str(tmp_path), top.name)
    assert done.returncode != 0
    assert (served / "archive.tar").read_bytes() == before


def tar_done(run: Run, *args: str) -> subprocess.CompletedProcess[str]:
    return run("tar", f"--rsh-command={FAKERSH}", "--rmt-command=rmtd", *args, check=False)


def make_iso(tmp_path: Path, top: Path) -> Path:
    xorriso = shutil.which("xorriso")
    assert xorriso, "xorriso is needed (apt-get install xorriso; .ci/run installs it)"
    content = tmp_path / "disc"
    content.mkdir()
    shutil.copytree(top, content / top.name)
    subprocess.run(
        ["tar", "-cf", str(content / "backup.tar"), "-C", str(top.parent), top.name], check=True
    )
    image = tmp_path / "disc.iso"
    mkisofs = [xorriso, "-as", "mkisofs", "-quiet", "-R", "-V", "RMTD_TEST"]
    subprocess.run(
        [*mkisofs, "-o", str(image), str(content)],
        check=True,
        capture_output=True,
    )
    return image


def connect(served: Path, name: str) -> RemoteTape:
    return RemoteTape.connect(
        RemoteName("localhost", name),
        os.O_RDONLY,
        rsh_command=FAKERSH,
        rmt_command=rmtd_command(served),
        timeout=60,
        env=clean_env(),
        stderr=subprocess.DEVNULL,
    )


def test_an_iso_image_reads_back_byte_for_byte_and_tar_reads_the_archive_on_it(
    served: Path, tmp_path: Path
) -> None:
    top = make_tree(tmp_path)
    image = make_iso(tmp_path, top)
    shutil.copy(image, served / "disc.iso")
    original = image.read_bytes()
    assert original[16 * SECTOR + 1 : 16 * SECTOR + 6] == b"CD001"

    copy = bytearray()
    with connect(served, "disc.iso/CD") as cd:
        while chunk := cd.read(16 * SECTOR):  # dd bs=32k
            assert len(chunk) % SECTOR == 0
            copy += chunk
        assert cd.read(SECTOR) == b""  # the end of the disc reads as 0, again and again
        # Random access: the primary volume descriptor, where ISO 9660 puts it.
        assert cd.seek(16 * SECTOR, os.SEEK_SET) == 16 * SECTOR
        assert cd.read(SECTOR)[:6] == b"\x01CD001"
        with pytest.raises(OSError) as caught:
            cd.read(SECTOR + 1)  # a raw CD device reads whole sectors only
        assert caught.value.errno == errno.EINVAL
    assert bytes(copy) == original

    local = tmp_path / "copy.iso"
    local.write_bytes(copy)
    extracted = tmp_path / "backup.tar"
    osirrox = ["xorriso", "-osirrox", "on", "-indev", str(local)]
    subprocess.run(
        [*osirrox, "-extract", "/backup.tar", str(extracted)],
        check=True,
        capture_output=True,
    )
    listing = subprocess.run(
        ["tar", "-tf", str(extracted)], capture_output=True, text=True, check=True
    ).stdout
    assert sorted(listing.split()) == expected_listing(top)
