"""What proves a file is ours: crash marks, forced opens, symlinks, names that lie.

Each case is a way a reviewer found to make rmtd or vmt write, cut or misjudge a file on the
strength of a name or a stale mark; each must now keep the file intact and say why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from devices.formats.index import INDEX_SUFFIX, ImageIdentity, ObjectIndex
from devices.interface import MtOp, OpenOptions
from devices.state import StateFile
from devices.vtape import open_tape_image
from tests.crashes import crash_mark
from tests.integrity.helpers import (
    make_tar,
    one_line,
    rmtd_command,
    side_files,
    tar_remote,
    vmt,
    vmt_remote,
)


def test_a_crash_mark_is_not_honoured_for_bytes_copied_over_the_image(tmp_path: Path) -> None:
    image = tmp_path / "t.tap"
    assert vmt(tmp_path, "new", "t.tap").returncode == 0
    assert vmt(tmp_path, "write", "t.tap", str(make_tar(tmp_path))).returncode == 0
    crash_mark(image, 0)  # a writer of ours died here...
    short = make_tar(tmp_path, "b.tar", member="abc")  # first word: a record past the end
    shutil.copyfile(short, image)  # ...then a tar archive was copied over it, in place
    before = image.read_bytes()
    assert "tar archive" in one_line(vmt(tmp_path, "-f", "t.tap", "weof"))
    assert vmt(tmp_path, "repair", "t.tap").returncode == 1
    assert image.read_bytes() == before


def test_a_crash_mark_is_not_honoured_when_the_bytes_before_it_changed(tmp_path: Path) -> None:
    image = tmp_path / "t.tap"
    assert vmt(tmp_path, "new", "t.tap").returncode == 0
    assert vmt(tmp_path, "write", "t.tap", str(make_tar(tmp_path))).returncode == 0
    end = image.stat().st_size
    crash_mark(image, end)
    with image.open("r+b") as out:  # someone rewrote a byte just before the mark, in place
        out.seek(end - 100)
        out.write(b"#")
        out.seek(0, os.SEEK_END)
        out.write((1000).to_bytes(4, "little") + b"torn")
    before = image.read_bytes()
    drive = open_tape_image(str(image), OpenOptions(write=True))
    drive.close()
    assert image.read_bytes() == before  # reported as damage, not cut as our torn write


def test_a_forced_look_at_a_stranger_leaves_no_side_files_and_repair_never_cuts_it(
    tmp_path: Path,
) -> None:
    archive = make_tar(tmp_path, "e.tar")
    before = archive.read_bytes()
    status = vmt(tmp_path, "--force", "-f", "e.tar", "status")
    assert status.returncode == 0, status.stderr
    assert side_files(archive) == []
    assert "not a tape image" in one_line(vmt(tmp_path, "repair", "e.tar"))
    assert "not repaired" in one_line(vmt(tmp_path, "--force", "repair", "e.tar"))
    assert archive.read_bytes() == before
    assert not Path(f"{archive}.bak").exists()


def test_a_plain_name_leading_to_an_image_is_refused(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    assert vmt(served, "new", "k.tap").returncode == 0
    assert vmt(served, "write", "k.tap", str(make_tar(tmp_path))).returncode == 0
    image = served / "k.tap"
    before = image.read_bytes()
    (served / "z.tar").symlink_to("k.tap")
    said = vmt_remote(tmp_path, rmtd_command(served), "localhost:z.tar", "status")
    assert "z.tar: leads to k.tap, a SIMH tape image, not a plain file" in said.stderr
    (tmp_path / "abc").write_text("x\n")
    done = tar_remote(tmp_path, rmtd_command(served), "-cf", "localhost:z.tar", "abc")
    assert done.returncode != 0
    assert "Wrong medium type" in done.stderr  # EMEDIUMTYPE
    assert image.read_bytes() == before


def test_a_served_image_under_a_plain_name_is_not_overwritten_as_a_file(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    assert vmt(served, "new", "k.tap").returncode == 0
    assert vmt(served, "write", "k.tap", str(make_tar(tmp_path))).returncode == 0
    os.rename(served / "k.tap", served / "vol.img")
    os.rename(served / "k.tap.rmtd", served / "vol.img.rmtd")
    before = (served / "vol.img").read_bytes()
    (tmp_path / "abc").write_text("x\n")
    done = tar_remote(tmp_path, rmtd_command(served), "-cf", "localhost:vol.img", "abc")
    assert done.returncode != 0
    assert "Wrong medium type" in done.stderr  # EMEDIUMTYPE
    assert (served / "vol.img").read_bytes() == before
    listed = tar_remote(tmp_path, rmtd_command(served), "-tf", "localhost:vol.img")
    assert listed.returncode != 0  # read as a plain file it is no tar archive, but intact
    assert (served / "vol.img").read_bytes() == before


def test_a_symlinked_image_keeps_its_position_and_side_files(tmp_path: Path) -> None:
    assert vmt(tmp_path, "new", "r.tap").returncode == 0
    for name in ("a.tar", "b.tar"):
        assert vmt(tmp_path, "write", "r.tap", str(make_tar(tmp_path, name))).returncode == 0
    (tmp_path / "l.tap").symlink_to("r.tap")
    assert vmt(tmp_path, "-f", "l.tap", "rewind").returncode == 0
    moved = vmt(tmp_path, "-f", "l.tap", "fsf", "1")
    assert moved.returncode == 0 and moved.stderr == "", moved.stderr
    status = vmt(tmp_path, "-f", "l.tap", "status")
    assert "File number=1, block number=0" in status.stdout
    assert StateFile(str(tmp_path / "r.tap")).load().drive.fileno == 1
    assert not Path(f"{tmp_path / 'l.tap'}.rmtd").exists()


def test_a_directory_is_named_as_one(tmp_path: Path) -> None:
    (tmp_path / "somedir").mkdir()
    assert "is a directory" in one_line(vmt(tmp_path, "-f", "somedir", "status"))
    (tmp_path / "served" / "d").mkdir(parents=True)
    done = vmt_remote(tmp_path, rmtd_command(tmp_path / "served"), "localhost:d", "status")
    assert done.returncode == 1
    assert "d: is a directory" in done.stderr
    listing = subprocess.run(
        ["tar", "-tf", "localhost:d", "--rsh-command=" + str(Path("tests/e2e/fakersh"))],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "SERVER": rmtd_command(tmp_path / "served")},
        timeout=60,
    )
    assert listing.returncode != 0 and "is a directory" in listing.stderr.lower()


def test_a_writer_killed_between_records_leaves_an_unfinished_then_incomplete_file(
    tmp_path: Path,
) -> None:
    image = tmp_path / "t.tap"
    assert vmt(tmp_path, "new", "t.tap").returncode == 0
    assert vmt(tmp_path, "write", "t.tap", str(make_tar(tmp_path))).returncode == 0
    drive = open_tape_image(str(image), OpenOptions(write=True))
    drive.ioctl(MtOp.MTEOM, 1)
    drive.write(b"half of a tape file")
    drive.image.storage.close()  # killed: no closing filemark, no clean close
    verified = vmt(tmp_path, "verify", "t.tap")
    assert verified.returncode == 1
    assert "UNFINISHED" in verified.stdout.splitlines()[-1]
    assert "never finished" in verified.stdout
    appended = vmt(tmp_path, "write", "t.tap", str(make_tar(tmp_path, "b.tar")))
    assert appended.returncode == 0, appended.stderr
    listing = vmt(tmp_path, "ls", "t.tap").stdout.splitlines()
    assert "(incomplete)" in listing[1] and "(incomplete)" not in listing[0] + listing[2]
    assert vmt(tmp_path, "verify", "t.tap").returncode == 0


def test_a_file_of_zeros_then_data_is_no_image(tmp_path: Path) -> None:
    disk = tmp_path / "disk.tap"
    disk.write_bytes(bytes(70000) + b"superblock" * 100)  # a disk image starts with zeros
    before = disk.read_bytes()
    assert "not a SIMH tape image" in one_line(vmt(tmp_path, "-f", "disk.tap", "weof"))
    assert vmt(tmp_path, "new", "disk.tap", "--force").returncode == 1
    assert disk.read_bytes() == before


def test_a_crash_mark_at_the_start_never_cuts_a_first_record(tmp_path: Path) -> None:
    image = tmp_path / "r.tap"
    assert vmt(tmp_path, "new", "r.tap").returncode == 0
    crash_mark(image, 0)  # the first write of a blank tape died...
    image.write_bytes(b"II*\0" + bytes(5000))  # ...and a TIFF landed in its inode
    before = image.read_bytes()
    assert "not a SIMH tape image" in one_line(vmt(tmp_path, "-f", "r.tap", "weof"))
    assert image.read_bytes() == before


def test_symlinks_to_protected_volumes_are_protected_everywhere(tmp_path: Path) -> None:
    assert vmt(tmp_path, "new", "p.tap").returncode == 0
    assert vmt(tmp_path, "write", "p.tap", str(make_tar(tmp_path))).returncode == 0
    assert vmt(tmp_path, "protect", "p.tap").returncode == 0
    (tmp_path / "lnk.tap").symlink_to("p.tap")
    before = (tmp_path / "p.tap").read_bytes()
    assert "write-protected" in one_line(vmt(tmp_path, "new", "lnk.tap", "--force"))
    with (tmp_path / "p.tap").open("ab") as out:
        out.write(b"garbage!")
    damaged = (tmp_path / "p.tap").read_bytes()
    assert "write-protected" in one_line(vmt(tmp_path, "repair", "lnk.tap"))
    assert (tmp_path / "p.tap").read_bytes() == damaged != before
    assert side_files(tmp_path / "lnk.tap") == []


def test_an_unreadable_state_file_fails_closed_and_is_kept(tmp_path: Path) -> None:
    image = tmp_path / "m.tap"
    assert vmt(tmp_path, "new", "m.tap").returncode == 0
    assert vmt(tmp_path, "protect", "m.tap").returncode == 0
    state = Path(f"{image}.rmtd")
    for broken in (state.read_text()[:-5], state.read_text().replace("true", "1")):
        state.write_text(broken)
        assert vmt(tmp_path, "-f", "m.tap", "status").returncode == 0  # reading is fine
        assert state.read_text() == broken  # the evidence is kept
        assert "unreadable" in one_line(vmt(tmp_path, "-f", "m.tap", "weof"))
        assert vmt(tmp_path, "new", "m.tap", "--force").returncode == 1
        assert vmt(tmp_path, "protect", "--off", "m.tap").returncode == 1
    state.unlink()  # the way out the message names
    assert vmt(tmp_path, "-f", "m.tap", "weof").returncode == 0


def test_an_index_that_stops_short_is_not_trusted(tmp_path: Path) -> None:
    image = tmp_path / "i.tap"
    assert vmt(tmp_path, "new", "i.tap").returncode == 0
    for name in ("a.tar", "b.tar"):
        assert vmt(tmp_path, "write", "i.tap", str(make_tar(tmp_path, name))).returncode == 0
    index_path = str(image) + INDEX_SUFFIX
    index = ObjectIndex.load(index_path, ImageIdentity.of_stat(os.stat(image)))
    assert index is not None
    index.truncate(3)  # a lie: only the first file, saved with the true identity
    index.save(index_path, ImageIdentity.of_stat(os.stat(image)))
    listing = vmt(tmp_path, "ls", "i.tap")
    assert listing.returncode == 0 and "End of data: 2 files" in listing.stdout
