"""``vmt verify``, ``vmt repair``, ``vmt ls`` on damaged images and ``vmt new --force`` guards."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from devices.formats.index import INDEX_SUFFIX
from devices.state import STATE_SUFFIX, StateFile
from rmtd.vmt import main
from tests.crashes import crash_mark

VMT = [sys.executable, "-c", "from rmtd.vmt import main; main()"]


def vmt(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VMT, *args], capture_output=True, text=True, check=False)


def mtdump_records(image: Path) -> list[list[int]]:
    """Record lengths per tape file as simh's mtdump reads them; fails on what it rejects."""
    done = subprocess.run(["mtdump", str(image)], capture_output=True, text=True, check=True)
    assert "Invalid" not in done.stdout and "Error" not in done.stdout, done.stdout
    files: list[list[int]] = []
    for line in done.stdout.splitlines():
        if line.startswith("Processing tape file"):
            files.append([])
        if ", length = " in line:
            files[-1].append(int(line.split(", length = ")[1].split()[0]))
    return files


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    """Three files: 1 record of 12 bytes, 3 records (10240, 10240, 4356), 1 record of 6."""
    (tmp_path / "a.txt").write_bytes(b"hello world\n")
    (tmp_path / "b.bin").write_bytes(bytes(range(256)) * 97 + b"tail")
    (tmp_path / "c.txt").write_bytes(b"third\n")
    image = tmp_path / "t.tap"
    assert vmt("new", str(image)).exit_code == 0
    files = [str(tmp_path / n) for n in ("a.txt", "b.bin", "c.txt")]
    assert vmt("write", str(image), *files).exit_code == 0
    return image


# Offsets in the fixture's image: file 0's record at 0 (20 bytes), its mark at 20; file 1's
# records at 24, 10272 and 20520 (4364 bytes), its mark at 24884; file 2's record at 24888.
SECOND_RECORD = 10272


def damage(image: Path, how: str) -> int:
    """Damage the image; return where readable data now ends."""
    data = bytearray(image.read_bytes())
    if how == "flip":
        data[SECOND_RECORD : SECOND_RECORD + 4] = struct.pack("<I", 4096)  # its trailer is data
        end = SECOND_RECORD
    elif how == "truncate":
        del data[SECOND_RECORD + 100 :]
        end = SECOND_RECORD
    else:
        end = len(data)
        data += b"\x21\x43\x65 not a tape object, just garbage"
    image.write_bytes(bytes(data))
    return end


def test_verify_a_clean_image_exits_0_with_one_line_per_finding(tape: Path) -> None:
    result = vmt("verify", str(tape))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{tape}: ok: SIMH tape image")
    assert f"{tape}{STATE_SUFFIX}: ok: well formed" in lines
    assert f"{tape}{INDEX_SUFFIX}: ok: matches the image" in lines
    assert lines[-1] == f"{tape}: OK: 3 tape files, 5 records"


@pytest.mark.parametrize("how", ["flip", "truncate", "garbage"])
def test_verify_names_the_first_bad_offset_and_exits_1(tape: Path, how: str) -> None:
    end = damage(tape, how)
    result = vmt("verify", str(tape))
    assert result.exit_code == 1
    verdict = result.output.splitlines()[-1]
    assert verdict.startswith(f"{tape}: DAMAGED at offset {end}: ")  # no write of ours was cut
    doc = json.loads(vmt("verify", "--json", str(tape)).output)
    assert doc["offset"] == end and doc["clean"] is False
    assert doc["verdict"] == "damaged"


def test_verify_calls_a_tail_torn_only_when_a_write_of_ours_left_it(tape: Path) -> None:
    end = damage(tape, "truncate")
    crash_mark(tape, end)
    result = vmt("verify", str(tape))
    assert result.exit_code == 1
    verdict = result.output.splitlines()[-1]
    assert verdict.startswith(f"{tape}: TORN TAIL at offset {end} ")
    assert "vmt repair, or the next open for writing, cuts it" in verdict


def test_verify_a_stale_index_is_not_damage(tape: Path) -> None:
    with tape.open("ab") as out:  # another program appended a filemark behind vmt's back
        out.write(b"\0\0\0\0")
    result = vmt("verify", str(tape))
    assert result.exit_code == 0, result.output
    assert f"{tape}{INDEX_SUFFIX}: stale: stale or unreadable: it will be rebuilt" in result.output


def test_verify_a_malformed_state_file_exits_1(tape: Path) -> None:
    Path(str(tape) + STATE_SUFFIX).write_text('{"volume": {"capacity": "lots"}}')
    result = vmt("verify", str(tape))
    assert result.exit_code == 1
    assert "volume.capacity: str where int belongs" in result.output
    assert result.output.splitlines()[-1].endswith("but a side file is damaged (see above)")


def test_verify_a_tar_archive_says_what_it_is(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("data\n")
    archive = tmp_path / "x.tar"
    with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT) as tar:
        tar.add(tmp_path / "f", arcname="f")
    result = vmt("verify", str(archive))
    assert result.exit_code == 1
    assert (
        "not a tape image: its name says a plain file (those are named *.tap, *.aws or *.het)"
        in result.output
    )
    assert "a tar archive" in result.output
    renamed = tmp_path / "x.tap"
    archive.rename(renamed)
    result = vmt("verify", str(renamed))
    assert result.exit_code == 1
    last = result.output.splitlines()[-1]
    assert last.startswith(f"{renamed}: NOT A TAPE IMAGE: not a SIMH tape image (")
    assert last.endswith("); it looks like a tar archive")


@pytest.mark.parametrize("how", ["flip", "truncate", "garbage"])
def test_repair_cuts_keeps_a_backup_and_mtdump_accepts_the_result(tape: Path, how: str) -> None:
    original_size = tape.stat().st_size
    end = damage(tape, how)
    damaged = tape.read_bytes()
    result = run("repair", str(tape))
    assert result.returncode == 0, result.stderr
    where = "the filemark ending file 2" if how == "garbage" else "file 1 record 0"
    assert result.stdout == (
        f"{tape}: cut at offset {end}: dropped {len(damaged) - end} bytes after {where}; "
        f"backup in {tape}.bak\n"
    )
    assert Path(f"{tape}.bak").read_bytes() == damaged
    assert tape.stat().st_size == end == (original_size if how == "garbage" else SECOND_RECORD)
    assert not Path(str(tape) + INDEX_SUFFIX).exists()
    expected = [[12], [10240, 10240, 4356], [6]] if how == "garbage" else [[12], [10240]]
    assert mtdump_records(tape) == expected
    assert vmt("verify", str(tape)).exit_code == 0
    listing = vmt("ls", str(tape))
    assert listing.exit_code == 0
    assert ("(incomplete)" in listing.output) == (how != "garbage")


def test_repair_of_a_clean_image_does_nothing(tape: Path) -> None:
    before = sorted(os.listdir(tape.parent))
    result = vmt("repair", str(tape))
    assert (result.exit_code, result.output) == (0, f"{tape}: nothing to repair\n")
    assert sorted(os.listdir(tape.parent)) == before


def test_repair_refusals_are_one_line_exit_1(tape: Path, tmp_path: Path) -> None:
    damage(tape, "garbage")
    assert vmt("protect", str(tape)).exit_code == 0
    result = run("repair", str(tape))
    assert result.returncode == 1
    assert result.stderr == f"vmt: {tape}: volume is write-protected\n"
    assert not Path(f"{tape}.bak").exists()
    text = tmp_path / "notes.txt"
    text.write_text("just some notes\n" * 10)
    result = run("repair", str(text))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "not a tape image: its name says a plain file" in result.stderr
    assert "it holds text" in result.stderr
    forced = run("--force", "repair", str(text))  # forced or not, a stranger is never cut
    assert forced.returncode == 1 and forced.stderr.count("\n") == 1
    assert "it looks like text; not repaired" in forced.stderr
    assert text.read_text() == "just some notes\n" * 10
    for missing in (tmp_path / "none.tap", tmp_path):
        result = run("repair", str(missing))
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr


def test_ls_of_a_damaged_image_lists_what_it_can_then_exits_1(tape: Path) -> None:
    end = damage(tape, "flip")
    result = run("ls", str(tape))
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "File 0: records=1, bytes=12, record size min=12, max=12, first object=0"
    )
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"vmt: {tape}: damaged at offset {end} (")
    done = run("ls", "--json", str(tape))
    doc = json.loads(done.stdout)
    assert done.returncode == 1
    assert doc["offset"] == end and "length words differ" in doc["problem"]
    assert [f["first"] for f in doc["files"]] == [0, 2]


def test_ls_shows_first_objects_that_seek_goes_to(tape: Path) -> None:
    doc = json.loads(vmt("ls", "--json", str(tape)).output)
    assert [f["first"] for f in doc["files"]] == [0, 2, 6]
    assert [f["incomplete"] for f in doc["files"]] == [False, False, False]
    for f in doc["files"]:
        assert vmt("-f", str(tape), "seek", str(f["first"])).exit_code == 0
        assert vmt("-f", str(tape), "tell").output == f"At block {f['first']}.\n"
        assert vmt("-f", str(tape), "fsr").exit_code == 0  # a record starts there
    assert "first object=6" in vmt("ls", str(tape)).output


def test_new_force_refuses_a_protected_volume_and_a_non_image(tape: Path, tmp_path: Path) -> None:
    assert vmt("protect", str(tape)).exit_code == 0
    before = tape.read_bytes()
    result = run("new", "--force", str(tape))
    assert result.returncode == 1
    assert result.stderr == f"vmt: {tape}: volume is write-protected; not replaced\n"
    assert tape.read_bytes() == before
    archive = tmp_path / "backup.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "a.txt", arcname="a.txt")
    data = archive.read_bytes()
    result = run("new", "--force", str(archive))
    assert result.returncode == 1
    assert "not a tape image" in result.stderr and "a tar archive" in result.stderr
    assert archive.read_bytes() == data
    assert vmt("protect", "--off", str(tape)).exit_code == 0
    assert vmt("new", "--force", str(tape)).exit_code == 0
    assert tape.stat().st_size == 0
    assert StateFile(str(tape)).load().volume.incomplete == []
