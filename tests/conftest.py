"""Shared test set-up: the hypothesis profiles, the test vectors and a reference SIMH codec.

The codec here is written from TAPE.md §1 independently of ``devices.formats.simh``, so that the
tests compare the drive's images with a second opinion rather than with the code under test.
Tests get it through fixtures, not by importing this module: pytest imports it as
``tests.conftest`` while mypy checks it as ``conftest``, and one file cannot be both.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # In CI (CI=true) the examples are the same on every run, so that a red build always
    # means a change broke something; developers' runs keep exploring new examples.
    derandomize=os.environ.get("CI") == "true",
)
settings.register_profile("thorough", max_examples=1000, stateful_step_count=80, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

VECTORS = Path(__file__).parent / "vectors"
"""The SIMH test vectors of TAPE.md §6, copied here so tests do not depend on the design tree."""

Obj = bytes | None
"""A logical tape object: a record's data, or ``None`` for a filemark."""

VEC_OBJECTS: list[Obj] = [b"HELLO", b"ABCD", None, b"XYZ", None, None]
"""The logical tape of ``vec.tap``: HELLO, ABCD, FM, XYZ, FM, FM."""


def simh_encode(objects: Sequence[Obj]) -> bytes:
    """Encode objects as a standard SIMH image: padded records, tape marks, no EOM marker."""
    out = bytearray()
    for obj in objects:
        if obj is None:
            out += struct.pack("<I", 0)
        else:
            n = len(obj)
            out += struct.pack("<I", n) + obj + (b"\0" if n % 2 else b"") + struct.pack("<I", n)
    return bytes(out)


def simh_decode(image: bytes) -> list[Obj]:
    """Decode a standard SIMH image written by the drive (class 0 records and tape marks only).

    Raises:
        AssertionError: when the image holds anything else or is malformed.
    """
    objects: list[Obj] = []
    pos = 0
    while pos < len(image):
        assert pos + 4 <= len(image), f"partial word at {pos}"
        (n,) = struct.unpack_from("<I", image, pos)
        if n == 0:
            objects.append(None)
            pos += 4
            continue
        assert n <= 0x00FFFFFF, f"not a good record at {pos}: {n:#x}"
        end = pos + 8 + n + (n & 1)
        assert end <= len(image), f"record at {pos} runs past the end"
        assert struct.unpack_from("<I", image, end - 4)[0] == n, f"trailer differs at {pos}"
        if n & 1:
            assert image[pos + 4 + n] == 0, f"pad byte not zero at {pos}"
        objects.append(bytes(image[pos + 4 : pos + 4 + n]))
        pos = end
    return objects


Encoder = Callable[[Sequence[Obj]], bytes]
Decoder = Callable[[bytes], list[Obj]]


@pytest.fixture
def encode() -> Encoder:
    """The reference SIMH encoder (:func:`simh_encode`)."""
    return simh_encode


@pytest.fixture
def decode() -> Decoder:
    """The reference SIMH decoder (:func:`simh_decode`)."""
    return simh_decode


@pytest.fixture
def vector(tmp_path: Path) -> Callable[[str], str]:
    """Return a function copying the named test vector into ``tmp_path`` (writable)."""

    def copy(name: str) -> str:
        target = tmp_path / name
        shutil.copyfile(VECTORS / name, target)
        return str(target)

    return copy
