"""Shared test set-up: the hypothesis profiles, the test vectors and the reference SIMH codec.

The codec lives in :mod:`tests.simh_codec` (independent of ``devices.formats.simh``); the
``encode``/``decode`` fixtures hand it out. Tests that want more of it (malformed records, or
in ``@given`` tests, which take no fixtures) import that module. Nothing imports this module
itself: pytest imports it as ``tests.conftest`` while mypy checks it as ``conftest``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests import simh_codec
from tests.simh_codec import Obj

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
"""The SIMH test vectors: ``vec.tap`` and variants (see ``tests/formats/test_simh.py``)."""

VEC_OBJECTS: list[Obj] = [b"HELLO", b"ABCD", None, b"XYZ", None, None]
"""The logical tape of ``vec.tap``: HELLO, ABCD, FM, XYZ, FM, FM."""


Encoder = Callable[[Sequence[Obj]], bytes]
Decoder = Callable[[bytes], list[Obj]]


@pytest.fixture
def encode() -> Encoder:
    """The reference SIMH encoder (:func:`tests.simh_codec.encode`)."""
    return simh_codec.encode


@pytest.fixture
def decode() -> Decoder:
    """The reference SIMH decoder (:func:`tests.simh_codec.decode`)."""
    return simh_codec.decode


@pytest.fixture
def vector(tmp_path: Path) -> Callable[[str], str]:
    """Return a function copying the named test vector into ``tmp_path`` (writable)."""

    def copy(name: str) -> str:
        target = tmp_path / name
        shutil.copyfile(VECTORS / name, target)
        return str(target)

    return copy
