"""The L argument order (see rmtd/protocol/lseek.py): resolve_lseek and its detection rule."""

from __future__ import annotations

import errno
from typing import Final, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmtd.protocol import RequestError, ResolvedSeek, SeekRequest, resolve_lseek

Order = Literal["offset-first", "whence-first"]
BSD: Final = "offset-first"
GNU: Final = "whence-first"

# (first line, second line, expected offset, whence, order): the real traffic of tar, restore, star.
AUTO: list[tuple[int, int, int, int, Order]] = [
    (0, 1, 0, 1, BSD),  # tar 1.34 "tell"
    (30720, 0, 30720, 0, BSD),  # tar 1.34 absolute
    (81920, 1, 81920, 1, BSD),  # tar 1.34 -n
    (1, 0, 0, 1, GNU),  # tar 1.35 "tell"
    (0, 30720, 30720, 0, GNU),  # tar 1.35 absolute
    (1, 81920, 81920, 1, GNU),  # tar 1.35 -n
    (10240, 1, 10240, 1, BSD),  # restore resync
    (0, 10, 0, 10, BSD),  # restore -Q: QFA tell
    (5, 11, 5, 11, BSD),  # restore -Q: QFA seek
    (0, 0, 0, 0, BSD),  # rewind: the same either way
    (1, 1, 1, 1, BSD),
    (2, 2, 2, 2, BSD),
    (0, 2, 0, 2, BSD),  # "to end" in BSD order
    (2, 0, 0, 2, GNU),  # "to end" in GNU order
    (3, 3, 3, 3, BSD),
    (-10240, 1, -10240, 1, BSD),
    (1, -10240, -10240, 1, GNU),
    (0, 4, 0, 4, BSD),  # SEEK_HOLE (Schily)
]


@pytest.mark.parametrize(("first", "second", "offset", "whence", "order"), AUTO)
def test_auto(first: int, second: int, offset: int, whence: int, order: Order) -> None:
    assert resolve_lseek(first, second, "auto") == ResolvedSeek(offset, whence, order)


@pytest.mark.parametrize(("first", "second"), [(10, 81920), (-1, -1), (5, 5), (1 << 40, 7)])
def test_auto_neither(first: int, second: int) -> None:
    with pytest.raises(RequestError) as caught:
        resolve_lseek(first, second)
    assert caught.value.errno == errno.EINVAL


def test_forced_orders() -> None:
    assert resolve_lseek(1, 0, BSD) == (1, 0, BSD)
    assert resolve_lseek(0, 1, GNU) == (1, 0, GNU)
    with pytest.raises(RequestError):
        resolve_lseek(0, 30720, BSD)
    with pytest.raises(RequestError):
        resolve_lseek(30720, 0, GNU)
    with pytest.raises(RequestError):
        resolve_lseek(10, 0, GNU)  # QFA exists only in BSD order


def test_qfa_can_be_disabled() -> None:
    assert resolve_lseek(0, 10, qfa=False) == (10, 0, GNU)
    with pytest.raises(RequestError):
        resolve_lseek(5, 11, qfa=False)


def test_symbolic_whence_means_gnu_order() -> None:
    assert resolve_lseek(1, 0, symbolic_first=True) == (0, 1, GNU)
    assert SeekRequest(0, 0, symbolic_first=True).resolve() == (0, 0, GNU)
    with pytest.raises(RequestError):
        resolve_lseek(1, 0, BSD, symbolic_first=True)


offsets = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
whences = st.integers(min_value=0, max_value=4)


@given(offsets.filter(lambda n: not 0 <= n <= 4), whences)
def test_big_offsets_are_never_misread(offset: int, whence: int) -> None:
    """Only a tiny offset can be ambiguous; any other pair resolves the one way it can."""
    assert resolve_lseek(offset, whence) == (offset, whence, BSD)
    assert resolve_lseek(whence, offset, qfa=False) == (offset, whence, GNU)


@given(offsets, offsets)
def test_auto_agrees_with_a_forced_order(first: int, second: int) -> None:
    try:
        result = resolve_lseek(first, second)
    except RequestError:
        return
    assert resolve_lseek(first, second, result.order) == result
