"""The opener: /MOUNT and /REWIND on images named by path, refused names, vmt protect."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from devices.interface import MtOp, OpenOptions
from devices.state import StateFile, VolumeInfo
from devices.vtape import create_tape_image, open_tape_image
from rmtd.devspec import parse_qualifiers
from rmtd.opener import DeviceOpener, OpenerConfig
from rmtd.vmt import main


@pytest.fixture
def root(tmp_path: Path) -> Path:
    served = tmp_path / "served"
    served.mkdir()
    path = str(served / "v.tap")
    create_tape_image(path, VolumeInfo())
    drive = open_tape_image(path, OpenOptions(write=True))
    for record in (b"one", b"two", b"three"):
        drive.write(record)
    drive.close()
    return served


def opener(root: Path) -> DeviceOpener:
    return DeviceOpener(OpenerConfig(root=str(root)))


def position(root: Path) -> int:
    return StateFile(str(root / "v.tap")).load().drive.position


def test_mount_loads_an_image_left_offline(root: Path) -> None:
    device = opener(root).open("v.tap/nomount", os.O_RDONLY)
    device.ioctl(MtOp.MTOFFL, 1)
    device.close()
    with pytest.raises(OSError) as caught:
        opener(root).open("v.tap/nomount", os.O_RDONLY)
    assert caught.value.errno == errno.ENOMEDIUM
    device = opener(root).open("v.tap/nostream", os.O_RDONLY)  # /MOUNT, the default
    buffer = memoryview(bytearray(10))
    assert bytes(buffer[: device.readinto(buffer)]) == b"one"
    device.close()


def test_mount_norewind_holds_the_position_at_close(root: Path) -> None:
    device = opener(root).open("v.tap/mount/norewind", os.O_RDONLY)
    device.ioctl(MtOp.MTFSR, 2)
    device.close()
    assert position(root) == 2
    device = opener(root).open("v.tap/rewind", os.O_RDONLY)
    device.close()
    assert position(root) == 0


@pytest.mark.parametrize("name", ["v.tap.rmtd", "v.tap.rmtd-index", "sub/../v.tap.rmtd"])
def test_side_files_are_refused(root: Path, name: str) -> None:
    open_tape_image(str(root / "v.tap"), OpenOptions()).close()  # make sure they exist
    with pytest.raises(OSError) as caught:
        opener(root).open(name, os.O_RDWR)
    assert caught.value.errno in (errno.EACCES, errno.EINVAL)


def test_fifos_are_refused_without_blocking(root: Path) -> None:
    os.mkfifo(root / "pipe")
    os.mkfifo(root / "pipe.tap")
    for name in ("pipe", "pipe.tap"):
        with pytest.raises(OSError) as caught:
            opener(root).open(name, os.O_RDONLY)
        assert caught.value.errno == errno.ENXIO


def test_vmt_protect_sets_and_clears_the_tab(root: Path) -> None:
    image = str(root / "v.tap")
    assert CliRunner().invoke(main, ["protect", image]).exit_code == 0
    with pytest.raises(OSError) as caught:
        opener(root).open("v.tap", os.O_RDWR)
    assert caught.value.errno == errno.EROFS
    assert "WR_PROT" in CliRunner().invoke(main, ["-f", image, "status"]).output
    assert CliRunner().invoke(main, ["protect", "--off", image]).exit_code == 0
    opener(root).open("v.tap", os.O_RDWR).close()


def test_config_defaults_apply_to_paths_before_the_clients_own(root: Path) -> None:
    held = DeviceOpener(
        OpenerConfig(root=str(root), defaults=parse_qualifiers("/nomount/norewind/nounload"))
    )
    device = held.open("v.tap", os.O_RDONLY)
    device.ioctl(MtOp.MTREW, 1)
    device.ioctl(MtOp.MTFSR, 2)
    device.close()
    assert position(root) == 2  # /norewind from the defaults
    device = held.open("v.tap", os.O_RDONLY)  # /nomount: where it was left
    buffer = memoryview(bytearray(10))
    assert bytes(buffer[: device.readinto(buffer)]) == b"three"
    device.close()
    device = held.open("v.tap/mount/rewind", os.O_RDONLY)  # the client's own win
    assert device.tell() == 0
    device.close()
    assert position(root) == 0


def test_vmt_takes_qualifiers_on_a_local_device(root: Path) -> None:
    image = str(root / "v.tap")
    refused = CliRunner().invoke(main, ["-f", f"{image}/nowrite", "weof"])
    assert refused.exit_code == 1
    assert refused.output.strip().endswith("write-protected for this open (/NOWRITE)")
    status = CliRunner().invoke(main, ["-f", f"{image}/nowrite", "status"])
    assert status.exit_code == 0 and "WR_PROT" in status.output
    assert CliRunner().invoke(main, ["-f", image, "rewind"]).exit_code == 0
    moved = CliRunner().invoke(main, ["-f", image, "fsr", "2"])
    assert moved.exit_code == 0
    assert position(root) == 2  # a local image keeps its position between commands
    told = CliRunner().invoke(main, ["-f", f"{image}/mount", "tell"])
    assert told.output == "At block 0.\n"
    bad = CliRunner().invoke(main, ["-f", f"{image}/frob", "status"])
    assert bad.exit_code == 1 and "unknown qualifier /frob" in bad.output


def test_vmt_force_treats_a_plain_file_as_a_tape_and_never_otherwise(tmp_path: Path) -> None:
    plain = tmp_path / "vol.img"
    plain.write_bytes(b"")
    refused = CliRunner().invoke(main, ["-f", str(plain), "weof"])
    assert refused.exit_code == 1
    assert "not a tape: a plain file holding an empty file" in refused.output
    assert plain.read_bytes() == b""
    forced = CliRunner().invoke(main, ["--force", "-f", str(plain), "weof", "2"])
    assert forced.exit_code == 0, forced.output
    assert plain.read_bytes() == b"\0" * 8  # two SIMH tape marks
    listing = CliRunner().invoke(main, ["--force", "ls", str(plain)])
    assert listing.exit_code == 0 and "End of data: 2 files" in listing.output
