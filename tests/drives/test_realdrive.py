"""RealDrive with ``fcntl.ioctl`` replaced: what reaches the kernel, and what comes back.

A regular file stands in for the device file (reads and writes are plain system calls on it);
the ioctls are recorded and answered by :class:`Kernel`.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import mtio
from devices.interface import DriveStatus, GeneralStatus, MtOp
from devices.realdrive import DriveSettings, RealDrive, op_name
from rmtd.status import pack_mtget


class Kernel:
    """Answers MTIOCTOP, MTIOCGET and MTIOCPOS; fails the operations in ``failing``."""

    def __init__(self) -> None:
        self.ops: list[tuple[int, int]] = []
        self.failing: dict[int, int] = {}
        self.mtget = mtio.MTGET.pack(0x72, 1, (0x13 << 24) | 512, 0x41010000, 3, 2, 7)
        self.position = 1234

    def ioctl(self, fd: int, request: int, arg: bytes | bytearray, mutate: bool = True) -> int:
        if fd < 0:
            raise ValueError("file descriptor cannot be a negative integer")  # as fcntl.ioctl
        if request == mtio.MTIOCTOP:
            assert isinstance(arg, bytes) and len(arg) == mtio.MTOP.size
            op, count = mtio.MTOP.unpack(arg)
            self.ops.append((op, count))
            if op in self.failing:
                raise OSError(self.failing[op], os.strerror(self.failing[op]))
            return 0
        assert isinstance(arg, bytearray) and mutate
        if request == mtio.MTIOCGET:
            arg[:] = self.mtget
        elif request == mtio.MTIOCPOS:
            arg[:] = mtio.MTPOS.pack(self.position)
        else:
            raise OSError(errno.ENOTTY, "not a tape ioctl")
        return 0


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Kernel:
    fake = Kernel()
    monkeypatch.setattr(fcntl, "ioctl", fake.ioctl)
    return fake


@pytest.fixture
def device(tmp_path: Path) -> str:
    path = tmp_path / "nst0"
    path.write_bytes(b"record one")
    return str(path)


def test_operations_pass_through_as_struct_mtop(kernel: Kernel, device: str) -> None:
    drive = RealDrive(device, os.O_RDWR, "/dev/nst0")
    assert drive.ioctl(MtOp.MTFSF, 3) == 3
    assert drive.ioctl(MtOp.MTWEOF, 0) == 0
    assert drive.ioctl(MtOp.MTBSR, -1) == -1
    assert kernel.ops == [(MtOp.MTFSF, 3), (MtOp.MTWEOF, 0), (MtOp.MTBSR, -1)]
    drive.close()
    assert kernel.ops[-1] == (MtOp.MTBSR, -1)  # nothing at close unless asked


def test_kernel_errnos_pass_through_unchanged(kernel: Kernel, device: str) -> None:
    drive = RealDrive(device, os.O_RDONLY, "tape0")
    for code in (errno.EIO, errno.ENOSPC, errno.ENOMEDIUM, errno.EINVAL, errno.ENOSYS):
        kernel.failing[MtOp.MTFSF] = code
        with pytest.raises(OSError) as caught:
            drive.ioctl(MtOp.MTFSF, 1)
        assert caught.value.errno == code
        assert caught.value.strerror == f"tape0: MTFSF 1: {os.strerror(code)}"


def test_values_struct_mtop_cannot_hold_are_refused_before_the_kernel(
    kernel: Kernel, device: str
) -> None:
    drive = RealDrive(device, os.O_RDONLY)
    for op, count in ((1 << 15, 1), (MtOp.MTFSF, 1 << 31), (MtOp.MTFSF, -(1 << 31) - 1)):
        with pytest.raises(OSError) as caught:
            drive.ioctl(op, count)
        assert caught.value.errno == errno.EINVAL
    assert drive.ioctl(MtOp.MTFSF, (1 << 31) - 1) == (1 << 31) - 1
    assert kernel.ops == [(MtOp.MTFSF, (1 << 31) - 1)]


def test_status_is_mtget_taken_apart_and_packs_back_unchanged(kernel: Kernel, device: str) -> None:
    status = RealDrive(device, os.O_RDONLY).status()
    assert status == DriveStatus(
        mt_type=0x72,
        partition=1,
        block_size=512,
        density=0x13,
        gstat=GeneralStatus.BOT | GeneralStatus.ONLINE | GeneralStatus.IM_REP_EN,
        erreg=3,
        fileno=2,
        blkno=7,
    )
    assert pack_mtget(status) == kernel.mtget  # the client gets the kernel's bytes


def test_tell_is_mtiocpos(kernel: Kernel, device: str) -> None:
    kernel.position = 987654321
    assert RealDrive(device, os.O_RDONLY).tell() == 987654321


def test_seek_answers_zero_as_st(kernel: Kernel, device: str) -> None:
    drive = RealDrive(device, os.O_RDONLY)
    assert drive.seek(4096, os.SEEK_SET) == 0
    assert drive.tell() == kernel.position


def test_reads_and_writes_are_single_calls(kernel: Kernel, device: str) -> None:
    drive = RealDrive(device, os.O_RDWR)
    buffer = memoryview(bytearray(4))
    assert drive.readinto(buffer) == 4 and bytes(buffer) == b"reco"
    assert drive.read_extent(100) is None
    view = drive.write_buffer(3)
    view[:] = b"XYZ"
    assert drive.commit_write(3) == 3
    drive.close()
    assert Path(device).read_bytes() == b"recoXYZone"


def test_a_read_only_open_refuses_writes_with_ebadf(kernel: Kernel, device: str) -> None:
    drive = RealDrive(device, os.O_RDONLY)
    for attempt in (lambda: drive.write(b"x"), lambda: drive.write_buffer(10)):
        with pytest.raises(OSError) as caught:
            attempt()
        assert caught.value.errno == errno.EBADF


def test_write_protect_refuses_a_write_open_before_opening(kernel: Kernel, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(OSError) as caught:
        RealDrive(missing, os.O_WRONLY, "/dev/nst0", DriveSettings(write_protect=True))
    assert caught.value.errno == errno.EROFS and "/dev/nst0" in str(caught.value)
    with pytest.raises(OSError) as caught:
        RealDrive(missing, os.O_RDONLY, "/dev/nst0", DriveSettings(write_protect=True))
    assert caught.value.errno == errno.ENOENT
    assert caught.value.strerror == "/dev/nst0: open: No such file or directory"


def test_create_and_truncate_are_never_passed_on(kernel: Kernel, tmp_path: Path) -> None:
    missing = tmp_path / "nst9"
    with pytest.raises(OSError) as caught:
        RealDrive(str(missing), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    assert caught.value.errno == errno.ENOENT and not missing.exists()
    missing.write_bytes(b"kept")
    RealDrive(str(missing), os.O_WRONLY | os.O_TRUNC).close()
    assert missing.read_bytes() == b"kept"


def test_settings_act_at_open_in_order(kernel: Kernel, device: str) -> None:
    settings = DriveSettings(rewind_at_open=True, blocksize=1024, density=0x13)
    RealDrive(device, os.O_RDONLY, settings=settings).close()
    assert kernel.ops == [(MtOp.MTREW, 1), (MtOp.MTSETBLK, 1024), (MtOp.MTSETDENSITY, 0x13)]


def test_a_failed_set_up_closes_the_drive(kernel: Kernel, device: str) -> None:
    kernel.failing[MtOp.MTSETBLK] = errno.EINVAL
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError) as caught:
        RealDrive(device, os.O_RDONLY, "/dev/nst0", DriveSettings(blocksize=3))
    assert caught.value.errno == errno.EINVAL and "MTSETBLK 3" in str(caught.value)
    assert set(os.listdir("/proc/self/fd")) == before


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (DriveSettings(), []),
        (DriveSettings(rewind_on_close=True), [(MtOp.MTREW, 1)]),
        (DriveSettings(unload_on_close=True), [(MtOp.MTOFFL, 1)]),
        (DriveSettings(rewind_on_close=True, unload_on_close=True), [(MtOp.MTOFFL, 1)]),
    ],
)
def test_close_rewinds_or_unloads_as_asked(
    kernel: Kernel, device: str, settings: DriveSettings, expected: list[tuple[int, int]]
) -> None:
    drive = RealDrive(device, os.O_RDONLY, settings=settings)
    drive.close()
    drive.close()  # once only
    assert kernel.ops == expected and drive.fileno() == -1


def test_a_failed_unload_still_closes_and_reports(kernel: Kernel, device: str) -> None:
    kernel.failing[MtOp.MTOFFL] = errno.EIO
    drive = RealDrive(device, os.O_RDONLY, "/dev/st0", DriveSettings(unload_on_close=True))
    fd = drive.fileno()
    with pytest.raises(OSError) as caught:
        drive.close()
    assert caught.value.errno == errno.EIO and "MTOFFL" in str(caught.value)
    with pytest.raises(OSError):
        os.fstat(fd)
    assert drive.fileno() == -1


def test_calls_after_close_fail_with_ebadf(kernel: Kernel, device: str) -> None:
    drive = RealDrive(device, os.O_RDWR, "/dev/nst0")
    drive.close()
    for attempt in (
        lambda: drive.readinto(memoryview(bytearray(1))),
        lambda: drive.write(b"x"),
        drive.status,
        drive.tell,
        lambda: drive.ioctl(MtOp.MTNOP, 1),
    ):
        with pytest.raises(OSError) as caught:
            attempt()
        assert caught.value.errno == errno.EBADF and "/dev/nst0" in str(caught.value)


def test_operations_are_named_in_messages() -> None:
    assert op_name(MtOp.MTSETDENSITY) == "MTSETDENSITY"
    assert op_name(99) == "tape operation 99"


LONG = st.integers(-(1 << 63), (1 << 63) - 1)
INT = st.integers(-(1 << 31), (1 << 31) - 1)
U32 = st.integers(0, (1 << 32) - 1)


@settings(max_examples=200, deadline=None)
@given(mt_type=LONG, resid=LONG, dsreg=U32, gstat=U32, erreg=LONG, fileno=INT, blkno=INT)
def test_any_status_st_can_give_reaches_the_client_byte_for_byte(
    mt_type: int, resid: int, dsreg: int, gstat: int, erreg: int, fileno: int, blkno: int
) -> None:
    # st fills mt_dsreg and mt_gstat with 32-bit masks (MT_ST_*_MASK, GMT_*): within those,
    # S sends exactly what MTIOCGET gave
    raw = mtio.MTGET.pack(mt_type, resid, dsreg, gstat, erreg, fileno, blkno)
    with pytest.MonkeyPatch.context() as patch:
        kernel = Kernel()
        kernel.mtget = raw
        patch.setattr(fcntl, "ioctl", kernel.ioctl)
        drive = RealDrive("/dev/null", os.O_RDONLY)
        try:
            assert pack_mtget(drive.status()) == raw
        finally:
            drive.close()
