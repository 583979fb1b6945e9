"""Limits on W, R and argument lines: errors, never large allocations, stream kept in sync."""

from __future__ import annotations

import errno
import tracemalloc
from collections.abc import Iterator, Sequence

import pytest

from rmtd.protocol import (
    CLOSED,
    CommandParser,
    OpenRequest,
    ReadRequest,
    RejectedRequest,
    WriteRequest,
)

from .protocol_helpers import Fatal, Payload, bytewise, run


def rejected(items: Sequence[object]) -> RejectedRequest:
    first = items[0]
    assert isinstance(first, RejectedRequest)
    return first


@pytest.mark.parametrize("split", [False, True])
def test_line_at_the_limit_is_fine(split: bool) -> None:
    data = b"O" + b"p" * 8 + b"\n0\nR1\n"
    items = run(CommandParser(max_line=8), bytewise(data) if split else [data])
    assert items == [OpenRequest(b"p" * 8, 0, "0"), ReadRequest(1), CLOSED]


@pytest.mark.parametrize("split", [False, True])
def test_long_device_is_enametoolong_and_skipped(split: bool) -> None:
    data = b"O" + b"p" * 9 + b"\n0\nR1\n"
    items = run(CommandParser(max_line=8), bytewise(data) if split else [data])
    assert rejected(items).errno == errno.ENAMETOOLONG
    assert items[1:] == [ReadRequest(1), CLOSED]


@pytest.mark.parametrize(
    "data",
    [b"Ot\n0" + b" " * 20 + b"\n", b"R" + b" " * 20 + b"1\n", b"L0\n" + b"1" * 30 + b"\n"],
)
def test_other_long_lines_are_einval(data: bytes) -> None:
    items = run(CommandParser(max_line=8), [data + b"R1\n"])
    assert rejected(items).errno == errno.EINVAL
    assert items[1:] == [ReadRequest(1), CLOSED]


def test_long_w_count_line_means_no_payload() -> None:
    items = run(CommandParser(max_line=8), [b"W" + b"0" * 20 + b"5\nR1\n"])
    assert rejected(items).errno == errno.EINVAL
    assert items[1:] == [ReadRequest(1), CLOSED]


def chunks(total: int, size: int = 1 << 16) -> Iterator[bytes]:
    block = b"z" * size
    for _ in range(total // size):
        yield block


def peak_while(
    parser: CommandParser, feed: Iterator[bytes], tail: bytes
) -> tuple[int, list[object]]:
    tracemalloc.start()
    try:
        items: list[object] = list(run(parser, [*feed, tail]))
        return tracemalloc.get_traced_memory()[1], items
    finally:
        tracemalloc.stop()


def test_huge_line_is_dropped_without_storing_it() -> None:
    parser = CommandParser()
    peak, items = peak_while(parser, iter([b"O", *chunks(8 << 20)]), b"\n0\nR1\n")
    assert rejected(items).errno == errno.ENAMETOOLONG
    assert items[1:] == [ReadRequest(1), CLOSED]
    assert peak < 1 << 20


def test_read_count_above_max_record() -> None:
    items = run(CommandParser(max_record=16), [b"R16\nR17\n"])
    assert items[0] == ReadRequest(16)
    assert rejected(items[1:]).errno == errno.ENOMEM
    assert items[2:] == [CLOSED]


@pytest.mark.parametrize("split", [False, True])
def test_write_above_max_record_is_skipped_then_refused(split: bool) -> None:
    data = b"W17\n" + b"\n" * 17 + b"W2\nokR1\n"
    items = run(CommandParser(max_record=16, max_skip=100), bytewise(data) if split else [data])
    refused = rejected(items)
    assert (refused.command, refused.errno) == ("W", errno.ENOMEM)
    assert items[1:] == [WriteRequest(2), Payload(b"ok"), ReadRequest(1), CLOSED]


def test_skipping_a_big_write_allocates_nothing_big() -> None:
    parser = CommandParser(max_record=1024)
    size = 8 << 20
    peak, items = peak_while(parser, iter([b"W%d\n" % size, *chunks(size)]), b"R1\n")
    assert rejected(items).errno == errno.ENOMEM
    assert items[1:] == [ReadRequest(1), CLOSED]
    assert peak < 1 << 20


def test_write_above_max_skip_is_a_framing_error() -> None:
    assert run(CommandParser(max_record=16, max_skip=100), [b"W101\n"]) == [Fatal(errno.ENOMEM)]
    assert run(CommandParser(), [b"W2147483648\n"]) == [Fatal(errno.ENOMEM)]


def test_end_of_input_while_skipping() -> None:
    items = run(CommandParser(max_record=1), [b"W5\nab"])
    assert items == [Fatal(errno.EIO)]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_line": 0}, {"max_record": -1}, {"max_record": 10, "max_skip": 9}, {"chunk_size": 0}],
)
def test_inconsistent_limits(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        CommandParser(**kwargs)  # type: ignore[arg-type]


def test_config_is_exposed() -> None:
    config = CommandParser(max_line=10, max_record=20, trust_numeric_flags=True).config
    assert (config.max_line, config.max_record, config.trust_numeric_flags) == (10, 20, True)
