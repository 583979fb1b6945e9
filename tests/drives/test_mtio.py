"""The tape ioctl encodings of devices.mtio against what gcc makes of the kernel headers."""

from __future__ import annotations

import struct

import pytest

from devices import mtio
from devices.interface import MT_ISSCSI2, MtOp
from rmtd.status import MTGET_SIZE


def test_request_numbers_match_the_kernel_headers(header_values: dict[str, int]) -> None:
    assert header_values["MTIOCTOP"] == mtio.MTIOCTOP
    assert header_values["MTIOCGET"] == mtio.MTIOCGET
    assert header_values["MTIOCPOS"] == mtio.MTIOCPOS


def test_struct_layouts_match_the_kernel_headers(header_values: dict[str, int]) -> None:
    assert mtio.MTOP.size == header_values["sizeof_mtop"]
    assert mtio.MTGET.size == header_values["sizeof_mtget"]
    assert mtio.MTPOS.size == header_values["sizeof_mtpos"]
    # mt_count after mt_op's padding; fileno and blkno after the five longs
    assert mtio.MTOP.pack(0, -1).index(b"\xff") == header_values["mtop.mt_count"]
    longs = struct.calcsize("@lllll")
    assert longs == header_values["mtget.mt_fileno"]
    assert longs + struct.calcsize("@i") == header_values["mtget.mt_blkno"]
    assert struct.calcsize("@llll") == header_values["mtget.mt_erreg"]


def test_the_wire_layout_is_the_hosts(header_values: dict[str, int]) -> None:
    # rmtd.status packs struct mtget for the wire as Linux x86-64 lays it out
    assert MTGET_SIZE == header_values["sizeof_mtget"] == 48


def test_operation_codes_match_the_kernel_headers(header_values: dict[str, int]) -> None:
    assert header_values["MTSETBLK"] == MtOp.MTSETBLK
    assert header_values["MTSETDENSITY"] == MtOp.MTSETDENSITY
    assert header_values["MTOFFL"] == MtOp.MTOFFL
    assert header_values["MT_ISSCSI2"] == MT_ISSCSI2


def test_ioc_fields_are_where_asm_generic_puts_them() -> None:
    assert mtio.ioc(mtio.IOC_WRITE, "m", 1, 8) == 0x40086D01
    assert mtio.ioc(mtio.IOC_READ, "m", 2, 48) == 0x80306D02
    assert mtio.ioc(0, "T", 0x1B, 0) == 0x541B  # TIOCINQ (FIONREAD): no direction, no size


@pytest.mark.parametrize(
    "args", [(4, "m", 1, 8), (1, "m", 256, 8), (1, "m", 1, 1 << 14), (1, "\u0100", 1, 8)]
)
def test_ioc_refuses_fields_too_large(args: tuple[int, str, int, int]) -> None:
    with pytest.raises(ValueError):
        mtio.ioc(*args)
