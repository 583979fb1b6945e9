"""``vmt``: mt's operations on images, the image tools, errors and exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rmtd.vmt import main
from tests.simh_codec import simh

VMT = [sys.executable, "-c", "from rmtd.vmt import main; main()"]


def vmt(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def status_fields(text: str) -> tuple[int, int, set[str]]:
    position = re.search(r"File number=(-?\d+), block number=(-?\d+), partition=0\.", text)
    assert position, text
    bits = text.strip().splitlines()[-1].split()
    return int(position[1]), int(position[2]), set(bits)


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    """An image with three files: 1 record, 3 records (25000 bytes), 1 record."""
    (tmp_path / "a.txt").write_bytes(b"hello world\n")
    (tmp_path / "b.bin").write_bytes(bytes(range(256)) * 97 + b"tail")
    (tmp_path / "c.txt").write_bytes(b"third\n")
    image = tmp_path / "t.tap"
    assert vmt("new", str(image)).exit_code == 0
    files = [str(tmp_path / n) for n in ("a.txt", "b.bin", "c.txt")]
    result = vmt("write", str(image), *files)
    assert result.exit_code == 0, result.output
    return image


def test_status_at_bot_prints_like_mt_st(tape: Path) -> None:
    assert vmt("-f", str(tape), "rewind").exit_code == 0
    result = vmt("-f", str(tape), "status")
    assert result.exit_code == 0
    assert result.output == (
        "SCSI 2 tape drive:\n"
        "File number=0, block number=0, partition=0.\n"
        "Tape block size 0 bytes. Density code 0x0 (default).\n"
        "Soft error count since last status=0\n"
        "General status bits on (41010000):\n"
        " BOT ONLINE IM_REP_EN\n"
    )


def test_tape_environment_variable_is_the_default_device(tape: Path) -> None:
    result = vmt("status", env={"TAPE": str(tape)})
    assert result.exit_code == 0
    assert "SCSI 2 tape drive:" in result.output


def test_positioning_operations_give_st_counters(tape: Path) -> None:
    dev = str(tape)
    steps = [
        (("rewind",), (0, 0, {"BOT"})),
        (("fsf", "2"), (2, 0, {"EOF"})),
        (("bsf",), (1, -1, set())),
        (("bsfm", "1"), (1, 0, {"EOF"})),
        (("fsr", "2"), (1, 2, set())),
        (("bsr",), (1, 1, set())),
        (("fsfm",), (1, -1, set())),
        (("eod",), (3, -1, {"EOD"})),
        (("rewind",), (0, 0, {"BOT"})),
        (("seek", "4"), (-1, -1, set())),
    ]
    for args, (fileno, blkno, bits) in steps:
        assert vmt("-f", dev, *args).exit_code == 0, args
        got = status_fields(vmt("-f", dev, "status").output)
        assert got[:2] == (fileno, blkno), args
        assert bits <= got[2], (args, got)
    assert vmt("-f", dev, "tell").output == "At block 4.\n"


def test_spacing_records_over_a_filemark_fails_with_the_mark_crossed(tape: Path) -> None:
    dev = str(tape)
    vmt("-f", dev, "rewind")
    result = vmt("-f", dev, "fsr", "3")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("vmt: ")
    assert status_fields(vmt("-f", dev, "status").output)[:2] == (1, 0)


def test_weof_and_erase_change_the_image(tape: Path) -> None:
    dev = str(tape)
    vmt("-f", dev, "rewind")
    vmt("-f", dev, "fsf", "1")
    assert vmt("-f", dev, "weof", "2").exit_code == 0
    listing = vmt("ls", dev).output.splitlines()
    assert listing[:3] == [
        "File 0: records=1, bytes=12, record size min=12, max=12, first object=0",
        "File 1: records=0, bytes=0, record size min=0, max=0, first object=2",
        "File 2: records=0, bytes=0, record size min=0, max=0, first object=3",
    ]
    vmt("-f", dev, "rewind")
    assert vmt("-f", dev, "erase").exit_code == 0
    assert tape.stat().st_size == 0


def test_setblk_setdensity_compression_persist(tape: Path) -> None:
    dev = str(tape)
    assert vmt("-f", dev, "setblk", "512").exit_code == 0
    assert vmt("-f", dev, "setdensity", "6250").exit_code == 0
    out = vmt("-f", dev, "status").output
    assert "Tape block size 512 bytes. Density code 0x3 (GCR (6250 bpi))." in out
    assert "D_6250" in out
    assert vmt("-f", dev, "setdensity", "0x42").exit_code == 0
    assert "Density code 0x42 (LTO-2)." in vmt("-f", dev, "status").output


def test_offline_then_load(tape: Path) -> None:
    dev = str(tape)
    assert vmt("-f", dev, "offline").exit_code == 0
    out = vmt("-f", dev, "status").output
    assert "DR_OPEN" in out and "ONLINE" not in out
    result = vmt("-f", dev, "fsf")
    assert result.exit_code == 1 and "medium" in result.output.lower()
    assert vmt("-f", dev, "load").exit_code == 0
    assert status_fields(vmt("-f", dev, "status").output) == (0, 0, {"BOT", "ONLINE", "IM_REP_EN"})


def test_abbreviations_and_spellings(tape: Path) -> None:
    dev = str(tape)
    assert vmt("-f", dev, "ret").exit_code == 0
    assert vmt("-f", dev, "rew").exit_code == 2  # rewind or rewoffl, as mt-st says
    assert vmt("-f", dev, "stat").exit_code == 0
    ambiguous = vmt("-f", dev, "fs")
    assert ambiguous.exit_code == 2 and "ambiguous" in ambiguous.output
    unknown = vmt("-f", dev, "frobnicate")
    assert unknown.exit_code == 2 and "unknown command" in unknown.output


def test_count_syntax(tape: Path) -> None:
    dev = str(tape)
    vmt("-f", dev, "rewind")
    assert vmt("-f", dev, "fsf", "0x2").exit_code == 0
    assert status_fields(vmt("-f", dev, "status").output)[0] == 2
    for bad in ("-1", "two", "3x"):
        assert vmt("-f", dev, "fsf", bad).exit_code == 2, bad


def test_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    missing = vmt("-f", str(tmp_path / "nope.tap"), "status")
    assert missing.exit_code == 1
    assert missing.output.strip().count("\n") == 0 and "nope.tap" in missing.output
    assert vmt("status", env={"TAPE": ""}).exit_code == 2


def test_write_protected_by_root_too(tape: Path) -> None:
    from devices.state import StateFile

    state = StateFile(str(tape))
    saved = state.load()
    saved.volume.write_protected = True
    state.save(saved)
    result = vmt("-f", str(tape), "weof")
    assert result.exit_code == 1 and "write-protected" in result.output
    assert "WR_PROT" in vmt("-f", str(tape), "status").output


def test_ls_and_read_round_trip(tape: Path, tmp_path: Path) -> None:
    listing = json.loads(vmt("ls", "--json", str(tape)).output)
    assert [(f["records"], f["bytes"]) for f in listing["files"]] == [(1, 12), (3, 24836), (1, 6)]
    assert listing["files"][1]["smallest"] == 4356 and listing["files"][1]["largest"] == 10240
    out = tmp_path / "b.out"
    assert vmt("read", str(tape), "--file", "1", "-o", str(out)).exit_code == 0
    assert out.read_bytes() == (tmp_path / "b.bin").read_bytes()
    missing = vmt("read", str(tape), "--file", "7")
    assert missing.exit_code == 1 and "no tape file 7" in missing.output


def test_write_block_size_and_append(tape: Path, tmp_path: Path) -> None:
    data = tmp_path / "d.bin"
    data.write_bytes(b"x" * 1000)
    assert vmt("write", "-b", "300", str(tape), str(data)).exit_code == 0
    files = json.loads(vmt("ls", "--json", str(tape)).output)["files"]
    assert len(files) == 4
    assert (files[3]["records"], files[3]["smallest"], files[3]["largest"]) == (4, 100, 300)


def test_new_with_capacity_and_density(tmp_path: Path) -> None:
    image = tmp_path / "small.tap"
    assert vmt("new", str(image), "--capacity", "64k", "--density", "1600").exit_code == 0
    assert "Density code 0x2" in vmt("-f", str(image), "status").output
    big = tmp_path / "big.bin"
    big.write_bytes(b"y" * 200_000)
    result = vmt("write", str(image), str(big))
    assert result.exit_code == 1 and "end of medium" in result.output
    again = vmt("new", str(image))
    assert again.exit_code == 1 and "exists" in again.output.lower()
    assert vmt("new", "--force", str(image)).exit_code == 0


def test_real_subprocess_and_exit_codes(tape: Path) -> None:
    env = {**os.environ, "TAPE": str(tape)}
    done = subprocess.run([*VMT, "rewind"], env=env, capture_output=True, check=False)
    assert done.returncode == 0 and done.stdout == b""
    done = subprocess.run([*VMT, "status"], env=env, capture_output=True, check=False)
    assert done.returncode == 0 and b"BOT ONLINE" in done.stdout
    done = subprocess.run([*VMT, "bsf"], env=env, capture_output=True, check=False)
    assert done.returncode == 1 and done.stderr.count(b"\n") == 1
    done = subprocess.run([*VMT, "nosuchop"], env=env, capture_output=True, check=False)
    assert done.returncode == 2


def mtdump_records(image: Path) -> list[list[int]]:
    """The record lengths per tape file, as simh's mtdump reads them."""
    done = subprocess.run(["mtdump", str(image)], capture_output=True, text=True, check=True)
    assert "Invalid" not in done.stdout and "Error" not in done.stdout, done.stdout
    files: list[list[int]] = []
    for line in done.stdout.splitlines():
        if line.startswith("Processing tape file"):
            files.append([])
        found = re.search(r"record \d+, length = (\d+)", line)
        if found:
            files[-1].append(int(found[1]))
    return files


def test_images_pass_mtdump_and_ls_agrees(tape: Path, tmp_path: Path) -> None:
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"z" * 12345)
    assert vmt("write", "-b", "777", str(tape), str(odd)).exit_code == 0
    dumped = mtdump_records(tape)
    listing = json.loads(vmt("ls", "--json", str(tape)).output)["files"]
    assert [len(f) for f in dumped] == [f["records"] for f in listing]
    assert [sum(f) for f in dumped] == [f["bytes"] for f in listing]
    assert [max(f) for f in dumped] == [f["largest"] for f in listing]


def test_write_after_an_unterminated_file_starts_a_new_one(tmp_path: Path) -> None:
    image = tmp_path / "open.tap"
    # one record and no filemark: a writer that stopped without closing its file
    image.write_bytes(simh(b"abc"))
    data = tmp_path / "d.bin"
    data.write_bytes(b"new")
    assert vmt("write", str(image), str(data)).exit_code == 0
    files = json.loads(vmt("ls", "--json", str(image)).output)["files"]
    assert [(f["records"], f["bytes"]) for f in files] == [(1, 3), (1, 3)]


def test_read_to_a_full_device_is_one_line_exit_1(tape: Path) -> None:
    done = subprocess.run(
        [*VMT, "read", str(tape), "--file", "1", "-o", "/dev/full"],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == b"vmt: /dev/full: No space left on device\n"
