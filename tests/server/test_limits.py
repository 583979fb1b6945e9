"""Server limits: ``max_filemarks`` from the config and the command line, record sizes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rmtd.config import ConfigError, ServerConfig, parse_config

RMTD = [sys.executable, "-c", "from rmtd.cli import main; main()"]


def rmtd(args: list[str], requests: bytes) -> bytes:
    done = subprocess.run(
        [*RMTD, *args], input=requests, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_max_filemarks_is_a_config_key_with_a_default() -> None:
    assert ServerConfig().max_filemarks == 100_000
    assert parse_config("max_filemarks = 7\n", "x.toml").max_filemarks == 7
    assert parse_config("max_filemarks = 16777215\n", "x.toml").max_filemarks == 0xFFFFFF


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("max_filemarks = 0\n", "out of range 1..16777215"),
        ("max_filemarks = 16777216\n", "out of range 1..16777215"),
        ('max_filemarks = "many"\n', "expected an integer"),
        ("max_filemarks = true\n", "expected an integer"),
    ],
)
def test_bad_max_filemarks_is_refused(text: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "x.toml")
    assert str(caught.value).startswith("x.toml, line 1: max_filemarks: ")
    assert why in str(caught.value)


# O (create, read/write), I5 3 (MTWEOF 3), I5 2, C: with a limit of 2 the first is refused.
WEOF = b"Ovol.tap/nostream\n66 O_RDWR|O_CREAT\nI5\n3\nI5\n2\nC\n"


def test_the_command_line_limit_reaches_the_drive(tmp_path: Path) -> None:
    reply = rmtd(["--root", str(tmp_path), "--max-filemarks", "2"], WEOF)
    assert reply.startswith(b"A0\nE28\nvol.tap: 3 filemarks exceed the limit of 2 per")
    assert reply.endswith(b"\nA2\nA0\n")
    assert (tmp_path / "vol.tap").stat().st_size == 8  # the two marks of the second I5


def test_the_config_limit_reaches_the_drive_and_the_option_wins(tmp_path: Path) -> None:
    (tmp_path / "rmtd.toml").write_text(f'root = "{tmp_path}"\nmax_filemarks = 2\n')
    config = ["--config", str(tmp_path / "rmtd.toml")]
    assert rmtd(config, WEOF).startswith(b"A0\nE28\n")
    assert rmtd([*config, "--max-filemarks", "3"], WEOF) == b"A0\nA3\nA2\nA0\n"


def test_a_tape_image_still_refuses_records_simh_cannot_hold(tmp_path: Path) -> None:
    big = 1 << 24  # within max_record (64 MiB), one byte over the SIMH 24-bit length
    requests = b"Ovol.tap\n66 O_RDWR|O_CREAT\nW%d\n" % big + bytes(big) + b"W3\nabcC\n"
    reply = rmtd(["--root", str(tmp_path)], requests)
    assert reply.startswith(b"A0\nE22\nvol.tap: record of 16777216 bytes is outside 1..16777215")
    assert reply.endswith(b"\nA3\nA0\n")  # the refused payload was drained: still in step
    assert (tmp_path / "vol.tap").stat().st_size == 4 + 4 + 4 + 4  # "abc", padded, and a mark


def test_the_default_record_limit_is_64_mib(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    limit = 64 << 20
    reply = rmtd(["--root", str(tmp_path)], b"Of\n0 O_RDONLY\nR%d\nR%d\nC\n" % (limit, limit + 1))
    assert reply == b"A0\nA0\nE12\nread count 67108865 exceeds the limit of 67108864 bytes\nA0\n"
