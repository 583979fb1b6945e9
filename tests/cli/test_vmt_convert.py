"""``vmt convert``: the same tape in a new image, record for record, or nothing at all.

The formats themselves are proven by their own tests; here SIMH to SIMH (byte for byte the same
image) shows that every object is copied in order, and the refusals show that a conversion never
writes over a file, never approximates and never leaves half an image.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.formats.image import TapeImage
from rmtd.vmt import main
from tests.simh_codec import CLASS_BAD, TAPE_MARK, record, simh


def vmt(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def listing(image: Path) -> list[dict[str, object]]:
    files: list[dict[str, object]] = json.loads(vmt("ls", "--json", str(image)).output)["files"]
    return files


def tape(path: Path, *objects: bytes) -> Path:
    path.write_bytes(b"".join(objects))
    return path


def test_every_object_is_copied_in_order(tmp_path: Path) -> None:
    # Two files, an empty file (two marks in a row), and records after the last mark.
    source = tape(
        tmp_path / "a.tap",
        record(b"one"),
        record(b"two" * 1000),
        TAPE_MARK,
        TAPE_MARK,
        record(b"x" * 65536),
        TAPE_MARK,
        record(b"tail"),
    )
    done = vmt("convert", str(source), str(tmp_path / "b.tap"))
    assert done.exit_code == 0, done.output
    assert (tmp_path / "b.tap").read_bytes() == source.read_bytes()
    assert listing(tmp_path / "b.tap") == listing(source)
    assert f"{tmp_path / 'b.tap'}: 4 tape files, 4 records, 68543 bytes from" in done.output


def test_an_existing_destination_is_never_written(tmp_path: Path) -> None:
    source = tape(tmp_path / "a.tap", record(b"one"), TAPE_MARK)
    target = tmp_path / "b.tap"
    target.write_bytes(b"precious")
    done = vmt("convert", str(source), str(target))
    assert done.exit_code == 1
    assert "exists; vmt convert makes new images only" in done.output
    assert target.read_bytes() == b"precious"


def test_a_damaged_source_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    source = tape(tmp_path / "a.tap", record(b"one"), TAPE_MARK, b"\x07\x00\x00\x00abc")
    done = vmt("convert", str(source), str(tmp_path / "b.tap"))
    assert done.exit_code == 1
    assert "damaged at offset 16" in done.output and "nothing converted" in done.output
    assert not (tmp_path / "b.tap").exists()


def test_bad_data_marks_are_kept_where_the_format_holds_them(tmp_path: Path) -> None:
    source = tape(tmp_path / "a.tap", record(b"good"), TAPE_MARK, record(b"bad", cls=CLASS_BAD))
    done = vmt("convert", str(source), str(tmp_path / "b.tap"))
    assert done.exit_code == 0, done.output
    assert (tmp_path / "b.tap").read_bytes() == source.read_bytes()
    assert "2 records (1 marked bad)" in done.output


def test_a_record_the_format_cannot_hold_stops_it_and_removes_the_half_image(
    tmp_path: Path,
) -> None:
    source = tape(tmp_path / "a.tap", record(b"good"), TAPE_MARK, record(b"bad", cls=CLASS_BAD))
    done = vmt("convert", str(source), str(tmp_path / "b.aws"))
    assert done.exit_code == 1
    assert "record 2 is marked bad, and a aws image has no such mark" in done.output
    assert sorted(os.listdir(tmp_path)) == ["a.tap", "a.tap.rmtd", "a.tap.rmtd-index"]


def test_a_record_too_long_for_the_format_is_named(tmp_path: Path) -> None:
    source = tape(tmp_path / "a.tap", record(b"a"), record(bytes((2 << 20) + 1)))
    done = vmt("convert", str(source), str(tmp_path / "b.het"))
    assert done.exit_code == 1
    assert f"record 1 holds {(2 << 20) + 1} bytes, a het image at most {2 << 20}" in done.output
    assert not (tmp_path / "b.het").exists()


objects = st.lists(
    st.one_of(
        st.none(),
        st.binary(min_size=1, max_size=300),
        st.integers(65_530, 65_540).map(
            lambda n: bytes(range(256)) * (n // 256) + b"x" * (n % 256)
        ),
        st.sampled_from([(bytes(range(251)) * 300)[:70_000], bytes(2 << 20)]),
    ),
    max_size=8,
)


@settings(max_examples=15, deadline=None)
@given(tape_objects=objects)
def test_simh_aws_het_simh_loses_nothing(tape_objects: list[bytes | None]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory)
        source = base / "a.tap"
        source.write_bytes(simh(*tape_objects))
        for step, name in enumerate(("b.aws", "c.het", "d.tap")):
            before = [source, base / "b.aws", base / "c.het"][step]
            done = vmt("convert", str(before), str(base / name))
            assert done.exit_code == 0, done.output
            assert listing(base / name) == listing(source)
        assert (base / "d.tap").read_bytes() == source.read_bytes()


def test_ctrl_c_removes_the_half_image_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tape(tmp_path / "a.tap", record(b"one"), record(b"two"), TAPE_MARK)
    real = TapeImage.append_record
    calls = []

    def interrupted(self: TapeImage, data: bytes | bytearray | memoryview, bad: bool) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(self, data, bad)

    monkeypatch.setattr(TapeImage, "append_record", interrupted)
    done = CliRunner().invoke(main, ["convert", str(source), str(tmp_path / "b.tap")])
    assert done.exit_code == 130
    assert "interrupted; removed" in done.output
    assert not (tmp_path / "b.tap").exists() and not (tmp_path / "b.tap.rmtd").exists()


@pytest.mark.parametrize(
    ("destination", "extra", "message"),
    [
        ("b.img", [], "its name says a plain file: name it *.tap, *.aws or *.het, or give --to"),
        ("b.tap", ["--to", "aws"], "its name says a SIMH tape image, not aws"),
    ],
)
def test_a_destination_format_that_cannot_be_told_is_a_usage_error(
    tmp_path: Path, destination: str, extra: list[str], message: str
) -> None:
    source = tape(tmp_path / "a.tap", record(b"one"), TAPE_MARK)
    done = vmt("convert", str(source), str(tmp_path / destination), *extra)
    assert done.exit_code == 2
    assert message in done.output
    assert not (tmp_path / destination).exists()
