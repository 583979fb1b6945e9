"""What the fuzzing of the readers found, one test each."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.kinds import DeviceKind, describe_content, describe_fd
from tests.fuzz.readers import FORMATS, exercise
from tests.simh_codec import encode


@pytest.mark.parametrize("first", [32768, 40000, 65536, 1 << 20])
def test_an_image_whose_first_record_outgrows_the_sniffed_head_is_described_as_one(
    tmp_path: Path, first: int
) -> None:
    # describe_* probed only the first 32,774 bytes, so the trailing length word of a longer
    # first record was not found and a valid image was "data of an unknown format".
    path = tmp_path / "big.tap"
    path.write_bytes(encode([b"x" * first, None, b"y"]))
    assert describe_content(str(path)) == DeviceKind.SIMH.value
    with path.open("rb") as f:
        assert describe_fd(f.fileno()) == DeviceKind.SIMH.value
    exercise(path.read_bytes(), FORMATS[0], tmp_path)
