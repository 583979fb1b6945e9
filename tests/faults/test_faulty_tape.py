"""Each fault kind on a real drive: exact operation counts, errnos and log lines."""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.drive import VirtualTapeDrive
from devices.faults import Faults, FaultyTape, NthError, errno_named
from devices.interface import GeneralStatus, MtOp, OpenOptions
from devices.vtape import open_tape_image
from tests.devices.drive_helpers import errno_of, new_tape

RECORD = b"r" * 100


@pytest.fixture
def tape(tmp_path: Path) -> Iterator[VirtualTapeDrive]:
    """A drive over a fresh image holding five 100-byte records, rewound."""
    drive = open_tape_image(new_tape(tmp_path), OpenOptions(write=True), "t.tap")
    for _ in range(5):
        drive.write(RECORD)
    drive.ioctl(MtOp.MTREW, 1)
    yield drive
    drive.close()


def _read(device: FaultyTape) -> int:
    return device.readinto(memoryview(bytearray(200)))


def test_read_error_fires_on_the_third_read_only(
    tape: VirtualTapeDrive, caplog: pytest.LogCaptureFixture
) -> None:
    faulty = FaultyTape(tape, Faults(read_error=NthError(3, errno.EIO)), "t.tap", tape)
    caplog.set_level(logging.WARNING, "devices.faults")
    assert _read(faulty) == 100
    assert _read(faulty) == 100
    with pytest.raises(OSError) as failed:
        _read(faulty)
    assert failed.value.errno == errno.EIO
    assert str(failed.value) == "[Errno 5] t.tap: injected read_error fault (EIO) on read 3"
    assert tape.state.position == 2  # the failed read moved nothing
    assert _read(faulty) == 100  # the 4th read is the 3rd record
    assert tape.state.position == 3
    assert [r.getMessage() for r in caplog.records] == [
        "t.tap: injected fault read_error (EIO) on read 3, operation 3"
    ]


def test_every_repeats_the_error(tape: VirtualTapeDrive) -> None:
    faulty = FaultyTape(tape, Faults(read_error=NthError(2, errno.ENOMEM, 2)), "t.tap", tape)
    results = [errno_of(lambda: _read(faulty)) for _ in range(6)]
    assert results == [None, errno.ENOMEM, None, errno.ENOMEM, None, errno.ENOMEM]


def test_write_error_through_write_buffer_and_write(tape: VirtualTapeDrive) -> None:
    tape.ioctl(MtOp.MTEOM, 1)
    faulty = FaultyTape(tape, Faults(write_error=NthError(2, errno.ENOSPC)), "t.tap", tape)
    faulty.write_buffer(10)[:] = b"0123456789"
    assert faulty.commit_write(10) == 10
    assert errno_of(lambda: faulty.write_buffer(10)) == errno.ENOSPC
    assert errno_of(lambda: faulty.write(b"x")) is None
    assert faulty.writes == 3
    assert len(tape.image) == 8  # 5 records, a filemark, 2 written


def test_read_extent_leaves_a_due_fault_to_readinto(tape: VirtualTapeDrive) -> None:
    faulty = FaultyTape(tape, Faults(read_error=NthError(2, errno.EIO)), "t.tap", tape)
    assert faulty.read_extent(100) is not None
    assert faulty.reads == 1
    assert faulty.read_extent(100) is None  # the 2nd read is due to fail
    assert tape.state.position == 1
    assert errno_of(lambda: _read(faulty)) == errno.EIO
    assert faulty.read_extent(100) is not None


def test_disappear_after_two_operations(
    tape: VirtualTapeDrive, caplog: pytest.LogCaptureFixture
) -> None:
    faulty = FaultyTape(tape, Faults(disappear_after=2), "t.tap", tape)
    caplog.set_level(logging.WARNING, "devices.faults")
    faulty.status()
    _read(faulty)
    assert faulty.read_extent(100) is None
    for call in (lambda: _read(faulty), faulty.status, lambda: faulty.ioctl(MtOp.MTREW, 1)):
        assert errno_of(call) == errno.ENOMEDIUM
    assert "injected fault disappear_after (ENOMEDIUM) on status, operation 4" in (caplog.text)
    faulty.close()  # closing still saves the drive's state
    assert tape.state.position == 1


def test_end_of_medium_at_a_byte_offset(tape: VirtualTapeDrive) -> None:
    tape.ioctl(MtOp.MTEOM, 1)
    end = tape.image.end_offset
    room = tape.image.record_size(100)
    faulty = FaultyTape(tape, Faults(end_of_medium_at=end + room), "t.tap", tape)
    assert faulty.write(RECORD) == 100  # ends exactly at the end of medium
    assert errno_of(lambda: faulty.write(b"x")) == errno.ENOSPC
    assert errno_of(lambda: faulty.ioctl(MtOp.MTWEOF, 1)) == errno.ENOSPC
    assert tape.image.end_offset == end + room


def test_early_warning_alternates_and_shows_eot(tape: VirtualTapeDrive) -> None:
    tape.ioctl(MtOp.MTEOM, 1)
    warn = tape.image.end_offset + 1
    faulty = FaultyTape(tape, Faults(early_warning_at=warn), "t.tap", tape)
    assert not faulty.status().gstat & GeneralStatus.EOT
    results = [errno_of(lambda: faulty.write(RECORD)) for _ in range(5)]
    assert results == [None, errno.ENOSPC, None, errno.ENOSPC, None]
    assert faulty.status().gstat & GeneralStatus.EOT
    assert faulty.ioctl(MtOp.MTWEOF, 1) == 1  # filemarks meet only the end of medium
    assert errno_of(lambda: faulty.write(RECORD)) == errno.ENOSPC  # alternation goes on
    assert tape.volume.capacity == 0  # nothing recorded on the volume


def test_delay_before_every_operation(
    tape: VirtualTapeDrive, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "devices.faults")
    slept: list[float] = []
    monkeypatch.setattr("devices.faults.time.sleep", slept.append)
    faulty = FaultyTape(tape, Faults(delay=0.5), "t.tap", tape)
    assert faulty.read_extent(100) is None  # a stuck drive reads through readinto
    _read(faulty)
    faulty.status()
    faulty.ioctl(MtOp.MTNOP, 1)
    assert slept == [0.5, 0.5, 0.5]
    assert [r.getMessage() for r in caplog.records] == [
        "t.tap: injected fault delay (0.5 s) before every operation, from operation 1"
    ]


def test_values_are_checked() -> None:
    assert errno_named("ENOSPC") == errno.ENOSPC
    with pytest.raises(ValueError, match="not an errno name"):
        errno_named("EWHATEVER")
    with pytest.raises(ValueError):
        NthError(0)
    with pytest.raises(ValueError):
        Faults(delay=-1)
    assert Faults().empty and not Faults(delay=0.1).empty


class _Endless:
    """A device whose every read returns one byte: counts without a tape's end."""

    def readinto(self, buffer: memoryview) -> int:
        return 1

    def read_extent(self, count: int) -> None:
        return None


@settings(max_examples=60, deadline=None)
@given(at=st.integers(1, 8), every=st.integers(0, 5), reads=st.integers(1, 30))
def test_an_error_fires_on_exactly_the_configured_reads(at: int, every: int, reads: int) -> None:
    faulty = FaultyTape(_Endless(), Faults(read_error=NthError(at, errno.EIO, every)), "x", None)  # type: ignore[arg-type]
    failed = [n for n in range(1, reads + 1) if errno_of(lambda: _read(faulty)) == errno.EIO]
    expected = {at + k * every for k in range(reads)} if every else {at}
    assert failed == sorted(n for n in expected if n <= reads)
    assert faulty.reads == faulty.operations == reads
