"""Writing a synthetic tape: through the image layer, checked whole before anything is written."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.interface import OpenOptions
from devices.kinds import DeviceKind
from devices.vtape import open_tape_image
from rmtd.testing import FORMATS, Data, Pattern, Random, SynthError, Tape
from rmtd.vmt import main


def objects(path: Path) -> list[tuple[int, bool, bytes | None]]:
    """Every object of an image: (length, bad, data); a filemark is (0, False, None)."""
    drive = open_tape_image(str(path), OpenOptions())
    try:
        index = drive.image.index
        out: list[tuple[int, bool, bytes | None]] = []
        for i in range(len(index)):
            if index.is_filemark(i):
                out.append((0, False, None))
                continue
            buffer = bytearray(index.record_length(i))
            bad = index.is_bad(i)
            if not bad:
                drive.image.read_record(i, memoryview(buffer))
            out.append((len(buffer), bad, None if bad else bytes(buffer)))
        return out
    finally:
        drive.close()


def state(path: Path) -> dict[str, dict[str, object]]:
    loaded: dict[str, dict[str, object]] = json.loads(Path(f"{path}.rmtd").read_text())
    return loaded


def test_formats_are_named_as_the_formats_name_themselves() -> None:
    assert FORMATS == {"simh": DeviceKind.SIMH, "aws": DeviceKind.AWS, "het": DeviceKind.HET}


@pytest.mark.parametrize("suffix", [".tap", ".aws", ".het"])
def test_entries_become_records_and_filemarks_in_order(tmp_path: Path, suffix: str) -> None:
    image = tmp_path / f"vol{suffix}"
    tape = Tape(seed=3)
    tape.file(Pattern("ab", sizes=[3, 2]))
    tape.file()  # an empty tape file
    tape.records(Data(b"0123456789", record_size=4)).file(Pattern("z", size=1, count=1), marks=2)
    tape.records(Pattern("q", size=5, count=1))  # an unclosed last file
    written = tape.write(str(image))
    assert objects(image) == [
        (3, False, b"aba"),
        (2, False, b"ba"),
        (0, False, None),
        (0, False, None),
        (4, False, b"0123"),
        (4, False, b"4567"),
        (2, False, b"89"),
        (1, False, b"z"),
        (0, False, None),
        (0, False, None),
        (5, False, b"qqqqq"),
    ]
    assert (written.files, written.records, written.bytes, written.bad) == (5, 7, 21, 0)
    assert written.size == image.stat().st_size


def test_bad_records_are_written_bad_in_simh(tmp_path: Path) -> None:
    image = tmp_path / "vol.tap"
    tape = (
        Tape().file(Pattern("x", size=10, count=4), bad=[1, 3]).bad(Pattern("y", size=7, count=1))
    )
    assert tape.write(str(image)).bad == 3
    assert [(n, bad) for n, bad, _ in objects(image)] == [
        (10, False),
        (10, True),
        (10, False),
        (10, True),
        (0, False),
        (7, True),
    ]
    listed = CliRunner().invoke(main, ["ls", str(image)])
    assert "bad records=2" in listed.output and "bad records=1" in listed.output


@pytest.mark.parametrize("suffix", [".aws", ".het"])
def test_bad_records_are_refused_where_the_format_has_no_mark(tmp_path: Path, suffix: str) -> None:
    image = tmp_path / f"vol{suffix}"
    tape = Tape().file(Random(size=10, count=2)).file(Pattern("x", size=10, count=4), bad=[2])
    with pytest.raises(SynthError) as caught:
        tape.write(str(image))
    assert (caught.value.entry, caught.value.key) == (2, "bad")
    assert f"record 2 is marked bad, but {suffix[1:]} images have no bad-data mark" in str(
        caught.value
    )
    assert not image.exists()


def test_a_bad_index_past_the_entry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="entry 1: bad record 4, but the entry has 4 records"):
        Tape().file(Pattern("x", size=10, count=4), bad=[4]).write(str(tmp_path / "a.tap"))
    with pytest.raises(SynthError, match="bad: -1 is not a whole number >= 0"):
        Tape().file(Pattern("x", size=10, count=4), bad=[-1])
    assert not (tmp_path / "a.tap").exists()


def test_a_record_too_long_for_the_format_is_refused(tmp_path: Path) -> None:
    big = Pattern("x", size=(2 << 20) + 1, count=1)
    with pytest.raises(SynthError, match=r"record 0 holds 2097153 bytes, more than aws images"):
        Tape().file(big).write(str(tmp_path / "a.aws"))
    assert not (tmp_path / "a.aws").exists()
    Tape().file(big).write(str(tmp_path / "a.tap"))  # SIMH holds up to 16 MiB - 1


def test_the_volume_and_the_block_size_are_saved(tmp_path: Path) -> None:
    image = tmp_path / "vol.tap"
    Tape(density="6250", capacity=1 << 20, block_size=512).file(Random(size=512, count=2)).write(
        str(image)
    )
    saved = state(image)
    assert saved["volume"]["density"] == 3
    assert saved["volume"]["capacity"] == 1 << 20
    assert saved["volume"]["early_warning"] == 128 << 10  # as vmt new
    assert saved["drive"]["block_size"] == 512
    status = CliRunner().invoke(main, ["-f", str(image), "status"])
    assert "Tape block size 512 bytes. Density code 0x3" in status.output
    Tape(capacity=4000).write(str(tmp_path / "small.tap"))
    assert state(tmp_path / "small.tap")["volume"]["early_warning"] == 1000  # a quarter


def test_data_past_early_warning_shows_eot_at_the_end(tmp_path: Path) -> None:
    for name, count, eot in (("short.tap", 2, False), ("long.tap", 11, True)):
        image = tmp_path / name
        Tape(capacity=20000, early_warning=5000).file(Random(size=1500, count=count)).write(
            str(image)
        )
        runner = CliRunner()
        assert runner.invoke(main, ["-f", str(image), "eod"]).exit_code == 0
        assert (" EOT " in runner.invoke(main, ["-f", str(image), "status"]).output) is eot


def test_a_tape_past_its_capacity_is_refused_and_removed(tmp_path: Path) -> None:
    image = tmp_path / "vol.het"
    tape = Tape(capacity=5000, early_warning=100).file(Random(size=1000, count=6))
    with pytest.raises(SynthError, match="capacity: 5000 bytes are too few: record 4 of entry 1"):
        tape.write(str(image))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"format": "tar"}, "format"),
        ({"density": "9999"}, "density"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": 100, "early_warning": 100}, "early_warning"),
        ({"early_warning": 100}, "early_warning"),
        ({"block_size": -512}, "block_size"),
    ],
)
def test_wrong_settings_are_refused_when_the_tape_is_made(
    settings: dict[str, object], key: str
) -> None:
    with pytest.raises(SynthError) as caught:
        Tape(**settings)  # type: ignore[arg-type]
    assert caught.value.key == key


def test_the_format_must_agree_with_the_name(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="its name says a SIMH tape image, not aws"):
        Tape("aws").write(str(tmp_path / "a.tap"))
    with pytest.raises(SynthError, match=r"name it \*.tap"):
        Tape().write(str(tmp_path / "a.img"))
    Tape("het").file(Random(size=10, count=1)).write(str(tmp_path / "a.img"))
    assert (tmp_path / "a.img").read_bytes()[:6] != b""


def test_an_existing_file_is_replaced_only_by_force_and_only_if_an_image(tmp_path: Path) -> None:
    image = tmp_path / "vol.tap"
    Tape().file(Random(size=100, count=1)).write(str(image))
    before = image.read_bytes()
    with pytest.raises(OSError, match="exists") as caught:
        Tape().write(str(image))
    assert caught.value.errno == errno.EEXIST
    assert image.read_bytes() == before
    Tape().file(Random(size=50, count=1)).write(str(image), force=True)
    assert objects(image)[0][0] == 50
    stranger = tmp_path / "notes.tap"
    stranger.write_text("not a tape at all, just some text that must survive\n")
    with pytest.raises(OSError) as caught:
        Tape().write(str(stranger), force=True)
    assert caught.value.errno == errno.EMEDIUMTYPE
    assert stranger.read_text().startswith("not a tape")


def test_a_missing_data_file_touches_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Tape().file(Data(str(tmp_path / "none"))).write(str(tmp_path / "a.tap"))
    assert list(tmp_path.iterdir()) == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    entries=st.lists(
        st.tuples(
            st.lists(st.integers(min_value=1, max_value=3000), max_size=4),
            st.sets(st.integers(min_value=0, max_value=3)),
            st.integers(min_value=0, max_value=2),
        ),
        max_size=5,
    ),
    suffix=st.sampled_from([".tap", ".aws", ".het"]),
)
def test_any_tape_comes_back_object_for_object(
    tmp_path_factory: pytest.TempPathFactory,
    entries: list[tuple[list[int], set[int], int]],
    suffix: str,
) -> None:
    image = tmp_path_factory.mktemp("any") / f"vol{suffix}"
    tape = Tape(seed=5)
    expected: list[tuple[int, bool]] = []
    for sizes, bad, marks in entries:
        marked = {i for i in bad if i < len(sizes)} if suffix == ".tap" else set()
        tape.file(Random(sizes=sizes) if sizes else None, bad=marked, marks=marks)
        expected += [(n, i in marked) for i, n in enumerate(sizes)] + [(0, False)] * marks
    tape.write(str(image))
    assert [(n, bad) for n, bad, _ in objects(image)] == expected
    again = image.with_name(f"again{suffix}")
    tape.write(str(again))
    assert again.read_bytes() == image.read_bytes()
