"""O flags lines of every client family (rtapelib, dump, librmt) decoded to Linux values."""

from __future__ import annotations

import pytest

from rmtd.protocol import RequestError, parse_open_flags

RDONLY, WRONLY, RDWR, CREAT, EXCL, TRUNC, APPEND = 0, 1, 2, 0o100, 0o200, 0o1000, 0o2000

# (flags line, decoded flags) with the default policy: names win; bare numbers give the
# access mode only; unknown names are ignored (dump, Schily).
TOLERANT: list[tuple[bytes, int]] = [
    (b"0 O_RDONLY", RDONLY),
    (b"1 O_WRONLY", WRONLY),
    (b"65 O_WRONLY|O_CREAT", WRONLY | CREAT),  # GNU tar -c
    (b"66 O_RDWR|O_CREAT", RDWR | CREAT),  # GNU tar -r/-u/--delete/-W
    (b"577 O_WRONLY|O_CREAT|O_TRUNC", WRONLY | CREAT | TRUNC),  # cpio -o
    (b"1 O_WRONLY|O_CREAT|O_TRUNC", WRONLY | CREAT | TRUNC),  # dump
    (b"2 O_RDWR|O_CREAT", RDWR | CREAT),  # star -c: no O_TRUNC, none added
    (b"O_RDWR|O_CREAT", RDWR | CREAT),
    (b"RDWR|CREAT", RDWR | CREAT),  # GNU bare names
    (b"O_WRONLY | O_CREAT", WRONLY | CREAT),
    (b"O_RDWR O_CREAT", RDWR | CREAT),
    (b"0 64|2", RDWR),  # numbers only: masked (GNU would create; no client sends it)
    (b"2 O_RDWR|O_CREAT|O_EXCL", RDWR | CREAT | EXCL),
    (b"1 O_WRONLY|O_APPEND", WRONLY | APPEND),
    (b"0 O_RDONLY|O_NONBLOCK", 0o4000),
    (b"0 O_RDONLY|O_NDELAY", 0o4000),
    (b"1 O_WRONLY|O_SYNC", WRONLY | 0o4010000),
    (b"1 O_WRONLY|O_DSYNC|O_LARGEFILE|O_NOCTTY", WRONLY | 0o10000 | 0o400),
    (b"0 O_RDONLY|O_TEXT|O_BINARY|O_PRIV", RDONLY),
    (b"66", RDWR),  # numeric: masked like dump/Schily, no accidental O_CREAT
    (b"577", WRONLY),
    (b"0102", 102 & 3),  # decimal, as GNU reads it
    (b"64|2", RDWR),
    (b"O_BOGUS", RDONLY),
    (b"garbage", RDONLY),
    (b"", RDONLY),
    (b" 1 ", WRONLY),
]


@pytest.mark.parametrize(("line", "flags"), TOLERANT)
def test_tolerant(line: bytes, flags: int) -> None:
    assert parse_open_flags(line) == flags


def test_names_decide_not_the_leading_number() -> None:
    assert parse_open_flags(b"2 O_BOGUS|O_CREAT") == CREAT
    assert parse_open_flags(b"65 O_RDONLY") == RDONLY


@pytest.mark.parametrize(("line", "flags"), [(b"66", RDWR | CREAT), (b"577", 577), (b"0102", 102)])
def test_trust_numeric(line: bytes, flags: int) -> None:
    assert parse_open_flags(line, trust_numeric=True) == flags


@pytest.mark.parametrize("line", [b"O_BOGUS", b"garbage", b"1 O_WRONLY|O_CREAT|O_SHOUT", b"rdwr"])
def test_strict_rejects_unknown_names(line: bytes) -> None:
    with pytest.raises(RequestError):
        parse_open_flags(line, strict=True)


@pytest.mark.parametrize("line", [b"-1", b"1 O_WRONLY|-4", b"4294967296", b"9" * 100])
def test_bad_numbers(line: bytes) -> None:
    with pytest.raises(RequestError):
        parse_open_flags(line)
