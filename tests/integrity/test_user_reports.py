"""Five users' reports of lost or misreported data, each replayed as it was reported.

a. tape operations and image tools pointed at a tar archive (named ``.tar``, or renamed ``.tap``);
b. an image damaged in the middle, then appended to;
c. an image replaced (renamed over) while a writer had it open;
d. ``vmt ls`` on a damaged image;
e. each way of write-protecting a volume (in ``test_user_report_wr_prot.py``).

The promises they check are the README's and ``devices/kinds.py``'s, ``devices/vtape.py``'s and
``devices/formats/image.py``'s docstrings: a file is never treated as a tape image its bytes
do not make; damage is reported and never repaired silently; side files describe the file
that was opened; a write-protected volume shows WR_PROT and refuses write opens with EROFS.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from devices.formats.index import INDEX_SUFFIX, ImageIdentity, ObjectIndex
from devices.interface import MtOp, OpenOptions
from devices.state import DriveState, StateFile
from devices.vtape import open_tape_image
from rmtd.client import RemoteName, RemoteTape
from tests.integrity.helpers import (
    FAKERSH,
    clean_env,
    make_tar,
    one_line,
    rmtd_command,
    side_files,
    tar_remote,
    vmt,
    vmt_remote,
)
from tests.simh_codec import encode, word

pytestmark = pytest.mark.e2e


@pytest.fixture
def tar_archive(tmp_path: Path) -> Path:
    """A GNU tar archive of 20,480 bytes (one member, padded to tar's 10,240-byte blocks)."""
    archive = make_tar(tmp_path)
    assert archive.stat().st_size == 20480
    return archive


# -- a. a tar archive is not a tape ---------------------------------------------------------


def test_weof_on_a_tar_file_fails_with_enotty_saying_what_it_is(
    tar_archive: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "c.tar"
    shutil.copyfile(tar_archive, copy)
    line = one_line(vmt(tmp_path, "-f", "c.tar", "weof", "1"))
    assert line.startswith("vmt: c.tar: ")
    # ENOTTY's meaning, in its own words or the system's ("Inappropriate ioctl for device")
    assert "not a tape" in line or "Inappropriate ioctl" in line, line
    # ...and what the file is, so that the user sees what they pointed at
    assert "tar archive" in line or "plain file" in line, line
    assert copy.read_bytes() == tar_archive.read_bytes()
    assert side_files(copy) == []


def test_vmt_write_refuses_a_tar_file(tar_archive: Path, tmp_path: Path) -> None:
    target = tmp_path / "d.tar"
    shutil.copyfile(tar_archive, target)
    source = make_tar(tmp_path, "b.tar", seed=2)
    line = one_line(vmt(tmp_path, "write", "d.tar", str(source)))
    assert "d.tar" in line and "tar archive" in line and "--force" in line, line
    assert target.read_bytes() == tar_archive.read_bytes()
    assert side_files(target) == []


@pytest.mark.parametrize(
    "args",
    [("-f", "c.tap", "weof", "1"), ("-f", "c.tap", "status"), ("ls", "c.tap")],
    ids=["weof", "status", "ls"],
)
def test_a_tar_renamed_tap_is_refused_as_not_a_simh_image(
    tar_archive: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    renamed = tmp_path / "c.tap"
    shutil.copyfile(tar_archive, renamed)
    line = one_line(vmt(tmp_path, *args))
    assert "c.tap: not a SIMH tape image" in line, line
    assert "looks like a tar archive" in line, line
    assert renamed.read_bytes() == tar_archive.read_bytes()
    assert side_files(renamed) == []


def _foreign_files(where: Path) -> dict[str, tuple[bytes, str]]:
    """Files whose first word reads as a SIMH record longer than the file, and what they are."""
    # "foo\0" is the length word 0x006f6f66: a record of 7 MB at offset 0, as a first write
    # cut short would leave it. gzip's header reads as a record of 134 MB.
    short = make_tar(where, "short.tar", member="foo").read_bytes()
    gz = subprocess.run(
        ["gzip", "-n", "-c"],
        input=random.Random(5).randbytes(40000),
        capture_output=True,
        check=True,
    ).stdout
    return {"tar": (short, "a tar archive"), "gzip": (gz, "a gzip file")}


@pytest.mark.parametrize("what", ["tar", "gzip"])
def test_an_archive_whose_first_word_looks_like_a_long_record_is_refused(
    tmp_path: Path, what: str
) -> None:
    data, looks = _foreign_files(tmp_path)[what]
    (tmp_path / "x.tap").write_bytes(data)
    for args in (("ls", "x.tap"), ("-f", "x.tap", "status"), ("-f", "x.tap", "weof")):
        line = one_line(vmt(tmp_path, *args))
        assert "x.tap: not a SIMH tape image" in line and f"looks like {looks}" in line, line
    assert (tmp_path / "x.tap").read_bytes() == data


def test_force_serves_the_tar_as_a_tape_but_never_writes_over_it(
    tar_archive: Path, tmp_path: Path
) -> None:
    renamed = tmp_path / "c.tap"
    shutil.copyfile(tar_archive, renamed)
    status = vmt(tmp_path, "--force", "-f", "c.tap", "status")
    assert status.returncode == 0, status.stderr
    assert "ONLINE" in status.stdout
    # Forced, the bytes are a tape damaged at offset 0: writing there would destroy them.
    refused = vmt(tmp_path, "--force", "-f", "c.tap", "weof", "1")
    assert refused.returncode == 1
    assert "offset 0" in refused.stderr.splitlines()[-1], refused.stderr
    appended = vmt(tmp_path, "--force", "write", "c.tap", str(tar_archive))
    assert appended.returncode == 1
    assert renamed.read_bytes() == tar_archive.read_bytes()


def test_rmtd_refuses_to_serve_a_tar_renamed_tap(tar_archive: Path, tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    shutil.copyfile(tar_archive, served / "c.tap")
    done = tar_remote(tmp_path, rmtd_command(served), "-tf", "localhost:c.tap")
    assert done.returncode != 0
    assert done.stdout == ""  # an error, not a listing of whatever the bytes decode to
    assert "Wrong medium type" in done.stderr, done.stderr  # EMEDIUMTYPE
    assert (served / "c.tap").read_bytes() == tar_archive.read_bytes()
    # The same archive under its own name is a plain file, listed as GNU rmt would serve it.
    shutil.copyfile(tar_archive, served / "c.tar")
    listed = tar_remote(tmp_path, rmtd_command(served), "-tf", "localhost:c.tar")
    assert listed.returncode == 0 and listed.stdout == "data.txt\n", listed.stderr


def test_rmtd_tape_operation_on_a_tar_file_is_enotty(tar_archive: Path, tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    shutil.copyfile(tar_archive, served / "c.tar")
    for op in ("weof", "eod", "fsf"):
        done = vmt_remote(tmp_path, rmtd_command(served), "localhost:c.tar", op)
        assert done.returncode == 1, done.stdout
        assert (served / "c.tar").read_bytes() == tar_archive.read_bytes(), op
    assert side_files(served / "c.tar") == []


# -- b. damage in the middle, then an append ---------------------------------------------


@pytest.fixture
def written_image(tmp_path: Path) -> Path:
    """An image of ~235 KB written by ``vmt write``: three files in 10,240-byte records."""
    rng = random.Random(235)
    names = []
    for n, size in enumerate((105000, 80000, 50000)):
        (tmp_path / f"f{n}.bin").write_bytes(rng.randbytes(size))
        names.append(f"f{n}.bin")
    done = vmt(tmp_path, "write", "img.tap", *names)
    assert done.returncode == 0, done.stderr
    image = tmp_path / "img.tap"
    assert 230_000 < image.stat().st_size < 240_000
    return image


# Record 0 is bytes 0-10247 (word, 10,240 bytes, word); record 1 starts at 10248.
DAMAGE = {
    "length-word": (10248, 10248),  # record 1's leading length word
    "trailer": (20492, 10248),  # record 1's trailing length word
    "first-trailer": (10244, 0),  # record 0's trailing word: the image's first record
}


@pytest.mark.parametrize("where", list(DAMAGE), ids=list(DAMAGE))
def test_damage_in_the_middle_refuses_appends_and_stays_byte_identical(
    written_image: Path, tmp_path: Path, where: str
) -> None:
    offset, reported = DAMAGE[where]
    with written_image.open("r+b") as f:
        f.seek(offset)
        f.write(b"\xde\xad\xbe\xef")
    damaged = written_image.read_bytes()
    (tmp_path / "more.bin").write_bytes(b"more data\n" * 300)
    for args in (
        ("write", "img.tap", "more.bin"),
        ("-f", "img.tap", "eod"),
        ("-f", "img.tap", "weof"),
        ("-f", "img.tap", "eod"),  # a second time: nothing of the first may have stuck
        ("write", "img.tap", "more.bin"),
        ("read", "img.tap", "--file", "0", "-o", "out.bin"),  # file 0 runs into the damage
        ("ls", "img.tap"),
        ("ls", "--json", "img.tap"),
    ):
        done = vmt(tmp_path, *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert written_image.read_bytes() == damaged, args
        if args[0] != "ls":
            message = done.stderr.splitlines()[-1]
            assert message.startswith("vmt: img.tap: "), message
            assert f"offset {reported}" in message, (args, message)


def test_writing_before_the_damage_is_an_ordinary_overwrite(
    written_image: Path, tmp_path: Path
) -> None:
    with written_image.open("r+b") as f:
        f.seek(10248)
        f.write(b"\xde\xad\xbe\xef")
    assert vmt(tmp_path, "-f", "img.tap", "eod").returncode == 1  # stops at the damage
    assert "block number=-1" in vmt(tmp_path, "-f", "img.tap", "status").stdout
    # Object 1 (record 1, at offset 10248) is where the damage is: no writing there...
    assert vmt(tmp_path, "-f", "img.tap", "weof").returncode == 1
    assert vmt(tmp_path, "-f", "img.tap", "rewind").returncode == 0
    assert vmt(tmp_path, "-f", "img.tap", "fsr", "1").returncode == 0
    assert vmt(tmp_path, "-f", "img.tap", "weof").returncode == 1
    # ...but at object 0, before it, writing is an ordinary overwrite.
    assert vmt(tmp_path, "-f", "img.tap", "rewind").returncode == 0
    done = vmt(tmp_path, "-f", "img.tap", "weof")
    assert done.returncode == 0, done.stderr
    # As on a tape: the filemark is written at BOT and the tape ends there.
    assert written_image.read_bytes() == encode([None])
    listing = vmt(tmp_path, "ls", "--json", "img.tap")
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout)["problem"] is None


# -- c. an image replaced while a writer has it open --------------------------------------


def _objects(image: Path) -> list[bytes | None]:
    """Read an image from BOT through the drive API (a read-only open): records and marks."""
    drive = open_tape_image(str(image), OpenOptions(nonblock=True))
    got: list[bytes | None] = []
    try:
        drive.ioctl(MtOp.MTREW, 1)
        buffer = memoryview(bytearray(1 << 16))
        while True:
            try:
                n = drive.readinto(buffer)
            except OSError as exc:
                assert exc.errno == errno.EIO and "end of data" in str(exc), exc
                return got
            got.append(bytes(buffer[:n]) if n else None)
    finally:
        drive.close()


def _read_from_position(image: Path) -> list[bytes | None]:
    """Read an image from wherever the drive stands (as /NOMOUNT and ``vmt`` take it)."""
    drive = open_tape_image(str(image), OpenOptions(nonblock=True))
    got: list[bytes | None] = []
    try:
        buffer = memoryview(bytearray(1 << 16))
        while True:
            try:
                n = drive.readinto(buffer)
            except OSError:
                return got
            got.append(bytes(buffer[:n]) if n else None)
    finally:
        drive.close()


OLD = [b"old-%d" % i * 50 for i in range(3)] + [None]
OTHER = [b"other-%d" % i * 60 for i in range(8)] + [None]


def _replace_under_a_writer(tmp_path: Path, other: bytes) -> ImageIdentity:
    """rep.tap is open for writing and written to when other.tap is renamed over it.

    Returns the identity of the file the writer wrote (kept open to see it after the close).
    """
    rep, replacement = tmp_path / "rep.tap", tmp_path / "other.tap"
    rep.write_bytes(encode(OLD))
    assert vmt(tmp_path, "ls", "rep.tap").returncode == 0  # side files of the old rep.tap
    replacement.write_bytes(other)
    writer = open_tape_image(str(rep), OpenOptions(write=True))
    written = os.open(rep, os.O_RDONLY)
    try:
        writer.ioctl(MtOp.MTEOM, 1)
        writer.write(b"new-1" * 40)
        os.rename(replacement, rep)
        writer.write(b"new-2" * 40)
        writer.close()
        return ImageIdentity.of_fd(written)
    finally:
        os.close(written)


def test_replace_under_a_writer_keeps_the_replacement_whole(tmp_path: Path) -> None:
    rep = tmp_path / "rep.tap"
    written = _replace_under_a_writer(tmp_path, encode(OTHER))
    assert rep.read_bytes() == encode(OTHER)
    # A drive that takes the tape as it stands must see a new medium: BOT, all of it
    # (st: a read returns 0 once more at the end of data right after a filemark).
    assert _read_from_position(rep) == [*OTHER, None]
    assert _objects(rep) == [*OTHER, None]
    # The side files beside rep.tap do not describe the file the writer wrote.
    saved = StateFile(str(rep)).load()
    assert saved.writing_since is None, saved
    assert saved.identity != written
    if saved.identity is None:
        assert saved.drive == DriveState(), saved
    assert ObjectIndex.load(str(rep) + INDEX_SUFFIX, written) is None
    listing = vmt(tmp_path, "ls", "--json", "rep.tap")
    assert listing.returncode == 0, listing.stderr
    assert [f["records"] for f in json.loads(listing.stdout)["files"]] == [8]


def test_replacement_with_a_torn_tail_is_not_cut_as_the_writers_own(tmp_path: Path) -> None:
    rep = tmp_path / "rep.tap"
    # other.tap ends in a record that runs past the end: not a write of ours (no crash
    # marker of its own), so it must be reported, never cut.
    other = encode(OTHER) + word(1000) + b"t" * 100
    _replace_under_a_writer(tmp_path, other)
    assert rep.read_bytes() == other
    (tmp_path / "more.bin").write_bytes(b"appended\n" * 10)
    done = vmt(tmp_path, "write", "rep.tap", "more.bin")
    assert done.returncode == 1, done.stderr
    assert f"offset {len(encode(OTHER))}" in done.stderr.splitlines()[-1], done.stderr
    assert rep.read_bytes() == other


def test_a_tar_renamed_over_a_new_image_being_written_is_never_cut(tmp_path: Path) -> None:
    rep = tmp_path / "rep.tap"
    archive = make_tar(tmp_path, "foo.tar", member="foo").read_bytes()  # see _foreign_files
    (tmp_path / "backup.tar").write_bytes(archive)
    writer = open_tape_image(str(rep), OpenOptions(write=True, create=True))
    writer.write(b"first record" * 10)  # the write journal says: written from offset 0
    os.rename(tmp_path / "backup.tar", rep)
    writer.close()
    (tmp_path / "more.bin").write_bytes(b"more")
    done = vmt(tmp_path, "write", "rep.tap", "more.bin")
    assert done.returncode == 1, done.stderr
    assert "cutting" not in done.stderr, done.stderr
    assert rep.read_bytes() == archive


def test_replace_under_an_rmtd_writer_then_tar_lists_the_replacement(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    first = make_tar(tmp_path, "first.tar", seed=3)
    second = make_tar(tmp_path, "second.tar", size=15000, seed=4)
    assert vmt(served, "write", "rep.tap", str(first)).returncode == 0
    # 512-byte records: the replacement holds more objects than the writer's position.
    assert vmt(served, "write", "-b", "512", "other.tap", str(second)).returncode == 0
    replacement = (served / "other.tap").read_bytes()
    tape = RemoteTape.connect(
        RemoteName("localhost", "rep.tap/nostream"),
        os.O_RDWR,
        rsh_command=FAKERSH,
        rmt_command=rmtd_command(served),
        env=clean_env(),
        stderr=subprocess.DEVNULL,
        timeout=30,
    )
    with tape:
        tape.ioctl(MtOp.MTEOM, 1)
        for n in range(5):
            tape.write(bytes([n]) * 10240)
        os.rename(served / "other.tap", served / "rep.tap")
        tape.write(b"z" * 10240)
    assert (served / "rep.tap").read_bytes() == replacement
    for spec in ("localhost:rep.tap/nomount", "localhost:rep.tap"):  # /nomount first: as left
        done = tar_remote(tmp_path, rmtd_command(served), "-tf", spec)
        assert done.returncode == 0, (spec, done.stderr)
        assert done.stdout == "data.txt\n", spec
        assert "Unexpected EOF" not in done.stderr
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        extracted = tar_remote(tmp_path, rmtd_command(served), "-xf", spec, "-C", str(out))
        assert extracted.returncode == 0, (spec, extracted.stderr)
        assert (out / "data.txt").read_bytes() == (tmp_path / "second.tar.d/data.txt").read_bytes()
    assert (served / "rep.tap").read_bytes() == replacement


# -- d. vmt ls on a damaged image ---------------------------------------------------------


GOOD = encode([b"A" * 100, b"B" * 33, None, b"C" * 7, None])
DAMAGED = {
    "torn-record": GOOD + word(500) + b"x" * 20,
    "partial-word": GOOD + b"\x01\x02",
    "length-words-differ": GOOD + word(4) + b"abcd" + word(5),
    "garbage-after-end-of-medium": GOOD + b"\xff\xff\xff\xff" + b"junk",
}


@pytest.mark.parametrize("kind", list(DAMAGED), ids=list(DAMAGED))
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_ls_on_a_damaged_image_exits_1(tmp_path: Path, kind: str, as_json: bool) -> None:
    image = tmp_path / "d.tap"
    image.write_bytes(DAMAGED[kind])
    done = vmt(tmp_path, "ls", *(["--json"] if as_json else []), "d.tap")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert f"offset {len(GOOD)}" in done.stdout + done.stderr
    if as_json and done.stdout:
        assert json.loads(done.stdout)["problem"]
    assert image.read_bytes() == DAMAGED[kind]


def test_ls_on_a_clean_image_exits_0(tmp_path: Path) -> None:
    (tmp_path / "g.tap").write_bytes(GOOD)
    for args in (("ls", "g.tap"), ("ls", "--json", "g.tap")):
        done = vmt(tmp_path, *args)
        assert done.returncode == 0, done.stderr
