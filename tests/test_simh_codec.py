"""The tests' SIMH codec itself, pinned to the test vectors and to literal bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.simh_codec import (
    CLASS_BAD,
    END_OF_MEDIUM,
    GAP,
    HALF_GAP,
    TAPE_MARK,
    decode,
    encode,
    record,
    record_size,
    simh,
    word,
)

VECTORS = Path(__file__).parent / "vectors"
VEC = [b"HELLO", b"ABCD", None, b"XYZ", None, None]


def test_encode_matches_the_vector_and_decode_inverts_it() -> None:
    image = (VECTORS / "vec.tap").read_bytes()
    assert encode(VEC) == simh(*VEC) == image
    assert decode(image) == VEC


def test_low_level_pieces_are_the_documented_bytes() -> None:
    assert record(b"abc") == b"\x03\0\0\0abc\0\x03\0\0\0"
    assert record(b"abc", pad=False) == b"\x03\0\0\0abc\x03\0\0\0"
    assert record(b"ab", cls=CLASS_BAD, trailer=3) == b"\x02\0\0\x80ab\x03\0\0\x80"
    assert word(1, cls=7) == b"\x01\0\0\x70"
    assert (TAPE_MARK, GAP, HALF_GAP, END_OF_MEDIUM) == (
        b"\0\0\0\0",
        b"\xfe\xff\xff\xff",
        b"\xff\xff\xfe\xff",
        b"\xff\xff\xff\xff",
    )
    assert [record_size(n) for n in (1, 2, 3)] == [10, 10, 12]


@pytest.mark.parametrize(
    "image", [record(b"abc", trailer=4), record(b"abc", pad=False), word(3) + b"ab"]
)
def test_decode_rejects_malformed_images(image: bytes) -> None:
    with pytest.raises(AssertionError):
        decode(image)
