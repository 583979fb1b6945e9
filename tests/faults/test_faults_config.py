"""The ``[faults."NAME"]`` tables: what they give, and errors naming key and line."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

from devices.faults import Faults, FaultyTape, NthError
from rmtd.config import ConfigError, parse_config
from rmtd.opener import DeviceOpener, OpenerConfig
from rmtd.testing import faults_config

FULL = """\
[faults."flaky.tap"]
read_error = { at = 3, errno = "EIO" }
write_error = { at = 10, errno = "ENOSPC", every = 5 }
early_warning_at = "1M"
end_of_medium_at = 2097152
delay = 0.5
disappear_after = 20
"""


def test_every_key_is_read() -> None:
    config = parse_config(FULL)
    assert config.faults == {
        "flaky.tap": Faults(
            read_error=NthError(3, errno.EIO),
            write_error=NthError(10, errno.ENOSPC, 5),
            early_warning_at=1 << 20,
            end_of_medium_at=2 << 20,
            delay=0.5,
            disappear_after=20,
        )
    }


def test_toml_from_code_reads_back_the_same() -> None:
    wanted = {
        "dir/a.tap": Faults(read_error=NthError(3, errno.EIO), disappear_after=0),
        "b.tap": Faults(write_error=NthError(1, errno.ENOMEM, 2), end_of_medium_at=4096),
        "c.tap": Faults(early_warning_at=10, delay=0.25),
    }
    assert parse_config(faults_config(wanted)).faults == wanted


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[faults."a.tap"]\nread_eror = 1\n', "line 2: faults.a.tap.read_eror: unknown key"),
        (
            '[faults."a.tap"]\n\nread_error = { at = 0 }\n',
            "line 3: faults.a.tap.read_error.at: 0 is less than 1",
        ),
        (
            '[faults."a.tap"]\nwrite_error = { at = 2, errno = "EOOPS" }\n',
            "line 2: faults.a.tap.write_error.errno: 'EOOPS' is not an errno name",
        ),
        (
            '[faults."a.tap"]\nread_error = { errno = "EIO" }\n',
            "line 2: faults.a.tap.read_error.at: missing",
        ),
        ('[faults."a.tap"]\nend_of_medium_at = "lots"\n', "line 2: faults.a.tap.end_of_medium_at"),
        ('[faults."a.tap"]\ndelay = -1\n', "line 2: faults.a.tap.delay: -1 is not a number"),
        ('[faults."a.tap"]\ndisappear_after = true\n', "faults.a.tap.disappear_after: expected"),
        ('[faults."../x.tap"]\ndelay = 1\n', "line 1: faults.../x.tap: must be a device name"),
        ("faults = 3\n", "line 1: faults: expected tables"),
    ],
)
def test_errors_name_the_key_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as failed:
        parse_config(text, "rmtd.toml")
    assert message in str(failed.value)
    assert str(failed.value).startswith("rmtd.toml, line ")


def test_a_drive_name_means_the_drive(tmp_path: Path) -> None:
    text = f'root = "{tmp_path}"\n[drives.mua0]\n[faults."MUA0:"]\ndelay = 1\n'
    assert parse_config(text).faults == {"mua0": Faults(delay=1.0)}


def _tape(root: Path, name: str) -> None:
    from devices.state import VolumeInfo
    from devices.vtape import create_tape_image

    create_tape_image(str(root / name), VolumeInfo())


def test_the_opener_wraps_only_a_name_with_faults(tmp_path: Path) -> None:
    _tape(tmp_path, "flaky.tap")
    _tape(tmp_path, "fine.tap")
    faults = Faults(read_error=NthError(1, errno.EIO))
    opener = DeviceOpener(OpenerConfig(root=str(tmp_path), faults={"flaky.tap": faults}))
    fine = opener.open("fine.tap", 0)
    assert not isinstance(fine, FaultyTape)
    fine.close()
    flaky = opener.open("./flaky.tap/nomount", 0)
    assert isinstance(flaky, FaultyTape) and flaky.faults == faults
    with pytest.raises(OSError) as failed:
        flaky.readinto(memoryview(bytearray(10)))
    assert failed.value.errno == errno.EIO
    flaky.close()


def test_the_readme_example_parses() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (block,) = re.findall(r"```toml\n(\[faults\..*?)```", readme, re.S)
    assert parse_config(block).faults["flaky.tap"] == Faults(
        read_error=NthError(3, errno.EIO),
        write_error=NthError(10, errno.ENOSPC),
        early_warning_at=1 << 20,
        end_of_medium_at=2 << 20,
        delay=0.5,
        disappear_after=20,
    )


def test_a_named_drive_with_faults_is_wrapped_with_its_tape(tmp_path: Path) -> None:
    from rmtd.drives import DriveStore

    _tape(tmp_path, "vol.tap")
    config = parse_config(
        f'root = "{tmp_path}"\n[drives.mua0]\nimage = "vol.tap"\n'
        '[faults."MUA0"]\nend_of_medium_at = 0\n'
    )
    opener = DeviceOpener(
        OpenerConfig(root=config.root, state_dir=config.state_path, faults=config.faults),
        DriveStore(config),
    )
    device = opener.open("mua0:", os.O_RDWR)
    assert isinstance(device, FaultyTape) and device.name == "mua0:"
    with pytest.raises(OSError) as failed:
        device.write(b"x" * 10)
    assert failed.value.errno == errno.ENOSPC  # the offset reached the tape under the drive
    device.close()
