"""How the opener serves real drives: path policy, named drives, qualifiers to settings."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import ClassVar

import pytest

from devices.realdrive import DriveSettings
from rmtd import opener as opener_module
from rmtd.access import Grant
from rmtd.config import DriveConfig, ServerConfig
from rmtd.devspec import parse_qualifiers
from rmtd.drives import DriveStore
from rmtd.opener import DeviceOpener, OpenerConfig
from tests.server.access_helpers import entry


class Opened:
    """Stands in for RealDrive: records how the opener opened it; fails as ``failures`` say."""

    calls: ClassVar[list[Opened]] = []
    failures: ClassVar[list[int]] = []

    def __init__(
        self,
        path: str,
        flags: int,
        name: str | None = None,
        settings: DriveSettings | None = None,
    ) -> None:
        if Opened.failures:
            code = Opened.failures.pop(0)
            raise OSError(code, f"{name}: open: {os.strerror(code)}")
        self.path, self.flags, self.name = path, flags, name
        self.settings = settings or DriveSettings()
        Opened.calls.append(self)

    def close(self) -> None:
        """Nothing to close."""


@pytest.fixture(autouse=True)
def opened(monkeypatch: pytest.MonkeyPatch) -> type[Opened]:
    Opened.calls, Opened.failures = [], []
    monkeypatch.setattr(opener_module, "RealDrive", Opened)
    return Opened


def errno_of(action: object) -> tuple[int, str]:
    assert callable(action)
    with pytest.raises(OSError) as caught:
        action()
    return caught.value.errno or 0, str(caught.value.strerror)


def by_path(name: str, flags: int = os.O_RDONLY, **config: object) -> Opened:
    device = DeviceOpener(OpenerConfig(**config)).open(name, flags)  # type: ignore[arg-type]
    assert isinstance(device, Opened)
    return device


def test_without_a_root_a_drive_opens_by_path_and_the_kernel_decides(opened: type[Opened]) -> None:
    for name in ("/dev/nst0", "/dev/st0", "/dev/nst12l"):
        device = by_path(name, os.O_RDWR | os.O_CREAT)
        assert (device.path, device.name) == (name, name)
        assert device.flags == os.O_RDWR | os.O_CREAT  # RealDrive drops O_CREAT itself
        assert device.settings == DriveSettings()  # no OpenVMS defaults on a drive


def test_qualifiers_become_the_drives_own_operations() -> None:
    device = by_path("/dev/nst0/mount/rewind/unload/blocksize=512/density=1600/nowrite")
    assert device.path == "/dev/nst0"
    assert device.settings == DriveSettings(
        rewind_at_open=True,
        blocksize=512,
        density=0x02,
        rewind_on_close=True,
        unload_on_close=True,
        write_protect=True,
    )


def test_server_defaults_are_for_volumes_not_drives() -> None:
    defaults = parse_qualifiers("/unload/rewind/blocksize=10240")
    assert by_path("/dev/nst0", defaults=defaults).settings == DriveSettings()


@pytest.mark.parametrize(
    ("name", "flags", "code", "text"),
    [
        ("/dev/nst0/nowrite", os.O_WRONLY, errno.EROFS, "/NOWRITE"),
        ("/dev/nst0/stream", os.O_RDONLY, errno.EINVAL, "/STREAM"),
        ("/dev/nst0/blocksize=0", os.O_RDONLY, errno.EINVAL, "blocksize"),
        ("/dev/nst0/bogus=1", os.O_RDONLY, errno.EINVAL, "unknown qualifier"),
    ],
)
def test_refused_opens(opened: type[Opened], name: str, flags: int, code: int, text: str) -> None:
    found, message = errno_of(lambda: by_path(name, flags))
    assert found == code and text in message
    assert opened.calls == []


def test_a_read_only_server_refuses_write_opens_and_protects_read_opens() -> None:
    code, message = errno_of(lambda: by_path("/dev/nst0", os.O_RDWR, read_only=True))
    assert code == errno.EROFS and "read-only" in message
    assert by_path("/dev/nst0", read_only=True).settings.write_protect


def test_under_a_root_a_drive_is_never_reached_by_path(
    tmp_path: Path, opened: type[Opened]
) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "nst0").write_bytes(b"")
    code, message = errno_of(lambda: by_path("/dev/nst0", root=str(tmp_path)))
    assert code == errno.EACCES and "named drive" in message
    assert opened.calls == []


# -- named drives -------------------------------------------------------------------------------


def named_site(
    tmp_path: Path, device: str, qualifiers: str = "", timeout: float = 5.0
) -> DeviceOpener:
    root = tmp_path / "tapes"
    root.mkdir(exist_ok=True)
    drive = DriveConfig("tape0", None, device, parse_qualifiers(qualifiers), qualifiers)
    config = ServerConfig(root=str(root), drives=(drive,), assist_timeout=timeout)
    store = DriveStore(config, poll_interval=0.01)
    return DeviceOpener(OpenerConfig(root=str(root), state_dir=config.state_path), store)


def test_a_named_drive_opens_its_device_under_a_root(tmp_path: Path) -> None:
    opener = named_site(tmp_path, "/dev/nst0", "/unload/blocksize=1024")
    device = opener.open("TAPE0:", os.O_RDWR)
    assert isinstance(device, Opened)
    assert (device.path, device.name) == ("/dev/nst0", "tape0")
    assert device.settings == DriveSettings(blocksize=1024, unload_on_close=True)
    device = opener.open("tape0/nounload/rewind", os.O_RDONLY)
    assert isinstance(device, Opened)
    assert device.settings == DriveSettings(blocksize=1024, rewind_on_close=True)


def test_a_named_drive_follows_a_symlink_to_the_device(tmp_path: Path) -> None:
    link = tmp_path / "by-id-nst"
    link.symlink_to("/dev/nst0")
    device = named_site(tmp_path, str(link)).open("tape0:", os.O_RDONLY)
    assert isinstance(device, Opened) and device.path == str(link)


def test_a_named_drive_whose_device_is_not_a_drive_is_refused(
    tmp_path: Path, opened: type[Opened]
) -> None:
    code, message = errno_of(lambda: named_site(tmp_path, "/etc/passwd").open("tape0:", 0))
    assert code == errno.EMEDIUMTYPE and "/etc/passwd is not a tape drive" in message
    assert opened.calls == []


def test_assist_waits_while_the_drive_has_no_medium(tmp_path: Path, opened: type[Opened]) -> None:
    opener = named_site(tmp_path, "/dev/nst0")
    opened.failures = [errno.ENOMEDIUM, errno.ENOMEDIUM]
    device = opener.open("tape0:/assist", os.O_RDONLY)
    assert isinstance(device, Opened) and opened.failures == []
    assert opener.drives is not None and opener.drives.requests() == []  # withdrawn


def test_without_assist_no_medium_fails_at_once(tmp_path: Path, opened: type[Opened]) -> None:
    opener = named_site(tmp_path, "/dev/nst0")
    opened.failures = [errno.ENOMEDIUM]
    assert errno_of(lambda: opener.open("tape0:", os.O_RDONLY))[0] == errno.ENOMEDIUM
    opened.failures = [errno.EBUSY]
    assert errno_of(lambda: opener.open("tape0:/assist", os.O_RDONLY))[0] == errno.EBUSY


def test_assist_gives_up_after_the_timeout(tmp_path: Path, opened: type[Opened]) -> None:
    opener = named_site(tmp_path, "/dev/nst0", timeout=0.05)
    opened.failures = [errno.ENOMEDIUM] * 1000
    code, message = errno_of(lambda: opener.open("tape0:/assist", os.O_RDONLY))
    assert code == errno.ENOMEDIUM and "after waiting" in message
    assert opener.drives is not None and opener.drives.requests() == []


def test_load_and_unload_refuse_a_real_drive(tmp_path: Path) -> None:
    opener = named_site(tmp_path, "/dev/nst0")
    assert opener.drives is not None
    code, message = errno_of(lambda: opener.drives.unload("tape0"))
    assert code == errno.ENXIO and "loaded by hand" in message


def test_a_read_only_grant_protects_a_named_drive(tmp_path: Path) -> None:
    site = named_site(tmp_path, "/dev/nst0")
    grant = Grant("alice", "alice", "h", ((1, entry(devices=("tape0",), mode="read-only")),))
    opener = DeviceOpener(site.config, site.drives, grant)
    code, _ = errno_of(lambda: opener.open("tape0:", os.O_WRONLY))
    assert code == errno.EACCES  # the grant refuses writing itself
    device = opener.open("tape0:", os.O_RDONLY)
    assert isinstance(device, Opened) and device.settings.write_protect
    code, _ = errno_of(lambda: opener.open("/dev/nst0", os.O_RDONLY))
    assert code == errno.EACCES  # not granted, and under a root anyway
