"""Named drives: matching, qualifier layering, /UNLOAD, /ASSIST, load/unload rules, state."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devices.interface import GeneralStatus, MtOp, TapeDevice
from devices.state import StateFile, VolumeInfo
from devices.vtape import create_tape_image
from rmtd.config import DriveConfig, ServerConfig
from rmtd.devspec import Qualifiers, parse_qualifiers
from rmtd.drives import DriveStore
from rmtd.named_device import NamedDriveDevice
from rmtd.opener import DeviceOpener, OpenerConfig

VMT = [sys.executable, "-c", "from rmtd.vmt import main; main()"]
RDONLY = os.O_RDONLY
WRITE = os.O_WRONLY | os.O_CREAT


class Site:
    """A served directory with named drives, an opener and the drive store."""

    def __init__(self, root: Path, drives: tuple[DriveConfig, ...], timeout: float) -> None:
        self.root = root
        self.config = ServerConfig(root=str(root), drives=drives, assist_timeout=timeout)
        self.store = DriveStore(self.config, poll_interval=0.02)
        state = self.config.state_path
        self.opener = DeviceOpener(OpenerConfig(root=str(root), state_dir=state), self.store)

    def open(self, name: str, flags: int = RDONLY) -> TapeDevice:
        return self.opener.open(name, flags)

    def loaded(self, name: str) -> str | None:
        drive = self.store.find(name)
        assert drive is not None
        return self.store.loaded(drive)

    def write_records(self, name: str, *records: bytes) -> None:
        device = self.open(name, WRITE)
        for record in records:
            device.write(record)
        device.close()

    def read(self, name: str) -> bytes:
        device = self.open(name)
        buffer = memoryview(bytearray(4096))
        got = device.readinto(buffer)
        device.close()
        return bytes(buffer[:got])


def drive(name: str, image: str | None = None, qualifiers: str = "") -> DriveConfig:
    return DriveConfig(name, image, None, parse_qualifiers(qualifiers), qualifiers)


def new_image(root: Path, name: str) -> Path:
    create_tape_image(str(root / name), VolumeInfo())
    return root / name


SiteMaker = Callable[..., Site]


@pytest.fixture
def make_site(tmp_path: Path) -> SiteMaker:
    root = tmp_path / "tapes"
    root.mkdir()

    def make(*drives: DriveConfig, timeout: float = 5.0) -> Site:
        return Site(root, drives, timeout)

    return make


def errno_of(action: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(OSError) as caught:
        action()
    return caught.value.errno or 0, str(caught.value.strerror)


def test_a_drive_name_matches_in_any_case_with_or_without_a_colon(make_site: SiteMaker) -> None:
    site = make_site(drive("mua0", "vol.tap", "/nounload"))
    site.write_records("mua0", b"first record")
    (site.root / "mua0").write_bytes(b"a plain file the drive name shadows")
    for name in ("mua0", "MUA0:", "Mua0:/nowrite", "mua0/nomount", "MUA0:/rewind/stream"):
        assert site.read(name) == b"first record", name
    assert site.read("vol.tap") == b"first record"  # the volume by path, too
    # not a drive: a path, and it does not exist
    assert errno_of(lambda: site.open("mua1:"))[0] == errno.ENOENT


def test_drive_qualifiers_apply_first_then_the_clients(make_site: SiteMaker) -> None:
    site = make_site(
        drive("mua0", "vol.tap", "/nomount/norewind/nounload/blocksize=512"),
        drive("mub0", "ro.tap", "/nowrite/nounload"),
    )
    new_image(site.root, "ro.tap")
    site.write_records("mua0", b"x" * 512)
    held = site.open("mua0")  # /nomount: as it stands, after the closing filemark
    assert (held.status().fileno, held.status().block_size) == (1, 512)
    held.close()
    mounted = site.open("mua0:/mount/blocksize=1024")  # the client's own win
    status = mounted.status()
    assert (status.fileno, status.blkno, status.block_size) == (0, 0, 1024)
    assert status.gstat & GeneralStatus.BOT
    mounted.close()
    assert errno_of(lambda: site.open("mua0:/nowrite", WRITE))[0] == errno.EROFS
    assert errno_of(lambda: site.open("mub0", WRITE))[0] == errno.EROFS
    site.open("mub0:/write", WRITE).close()
    code, message = errno_of(lambda: site.open("mua0:/rewind/norewind"))
    assert code == errno.EINVAL and "conflicting" in message


def test_unload_leaves_a_named_drive_empty_until_an_operator_loads(make_site: SiteMaker) -> None:
    site = make_site(drive("mua0", "vol.tap"))  # the defaults: /MOUNT/REWIND/UNLOAD
    site.write_records("mua0", b"data")
    assert site.loaded("mua0") is None
    code, message = errno_of(lambda: site.open("mua0:"))
    assert code == errno.ENOMEDIUM and message.startswith("mua0:")
    by_path = site.open("vol.tap")  # the volume itself is rewound and ready on the shelf
    assert by_path.status().gstat & GeneralStatus.BOT
    by_path.close()
    site.store.load("mua0", "vol.tap")
    assert site.read("mua0:/nounload") == b"data"
    assert site.loaded("mua0") == "vol.tap"


def test_nounload_keeps_the_volume_and_an_offline_empties_the_drive(
    make_site: SiteMaker,
) -> None:
    site = make_site(drive("mua0", "vol.tap", "/nounload"))
    site.write_records("mua0", b"data")
    assert site.loaded("mua0") == "vol.tap"
    device = site.open("mua0")
    device.ioctl(MtOp.MTOFFL, 1)
    assert errno_of(lambda: device.readinto(memoryview(bytearray(10))))[0] == errno.ENOMEDIUM
    device.close()
    assert site.loaded("mua0") is None
    assert StateFile(str(site.root / "vol.tap")).load().drive.loaded  # ready again


def test_the_hot_path_passes_through_a_named_drive(make_site: SiteMaker) -> None:
    site = make_site(drive("mua0", "vol.tap", "/nounload"))
    device = site.open("mua0", WRITE)
    assert isinstance(device, NamedDriveDevice)
    view = device.write_buffer(5)
    view[:] = b"hello"
    assert device.commit_write(5) == 5
    device.close()
    device.close()  # a second close does nothing
    assert site.read("mua0") == b"hello"


def test_a_cd_rom_in_a_named_drive(make_site: SiteMaker) -> None:
    site = make_site(drive("dua0", "disc.iso", "/nounload"), drive("dub0", "disc2.iso"))
    (site.root / "disc.iso").write_bytes(b"S" * 2048 + b"T" * 2048)
    (site.root / "disc2.iso").write_bytes(b"U" * 2048)
    device = site.open("DUA0:")
    buffer = memoryview(bytearray(2048))
    assert device.seek(2048, os.SEEK_SET) == 2048
    assert device.readinto(buffer) == 2048 and bytes(buffer[:1]) == b"T"
    device.close()
    assert errno_of(lambda: site.open("dua0:", os.O_RDWR))[0] == errno.EROFS
    assert site.loaded("dua0") == "disc.iso"
    site.open("dub0").close()  # /UNLOAD, the default, empties a CD drive too
    assert site.loaded("dub0") is None
    site.store.load("dub0", "disc2.iso")
    assert site.loaded("dub0") == "disc2.iso"


def test_an_empty_drive_without_assist_fails_at_once(make_site: SiteMaker) -> None:
    site = make_site(drive("mua0"), timeout=30)
    started = time.monotonic()
    code, message = errno_of(lambda: site.open("mua0:"))
    assert code == errno.ENOMEDIUM and "no volume loaded" in message
    assert time.monotonic() - started < 5
    assert site.store.requests() == []


def wait_for_request(store: DriveStore) -> None:
    deadline = time.monotonic() + 20
    while not store.requests():
        assert time.monotonic() < deadline, "no operator request appeared"
        time.sleep(0.01)


def test_assist_waits_for_an_operator_in_another_thread(
    make_site: SiteMaker, caplog: pytest.LogCaptureFixture
) -> None:
    site = make_site(drive("mua0", None, "/nounload"), timeout=30)
    new_image(site.root, "vol.tap")
    seen: list[tuple[str, str | None]] = []

    def operator() -> None:
        wait_for_request(site.store)
        seen.extend((r.drive, r.comment) for r in site.store.requests())
        site.store.load("MUA0:", "vol.tap")

    helper = threading.Thread(target=operator)
    helper.start()
    with caplog.at_level(logging.WARNING, logger="rmtd.opener"):
        device = site.open('mua0:/assist/comment="please mount VOL/7"')
    helper.join()
    assert seen == [("mua0", "please mount VOL/7")]
    assert device.status().gstat & GeneralStatus.ONLINE
    device.close()
    assert site.store.requests() == []
    assert not os.listdir(Path(site.store.state_dir) / "requests")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "mua0" in warnings[0] and "please mount VOL/7" in warnings[0]


def test_assist_waits_for_vmt_load_in_another_process(make_site: SiteMaker) -> None:
    site = make_site(drive("mua0", None, "/nounload"), timeout=30)
    new_image(site.root, "vol.tap")
    config = site.root.parent / "rmtd.toml"
    config.write_text(f'root = "{site.root}"\n[drives.mua0]\nqualifiers = "/nounload"\n')
    results: list[subprocess.CompletedProcess[str]] = []

    def operator() -> None:
        wait_for_request(site.store)
        listing = [*VMT, "requests", "--config", str(config)]
        results.append(subprocess.run(listing, capture_output=True, text=True, check=False))
        load = [*VMT, "load", "--config", str(config), "mua0", "vol.tap"]
        results.append(subprocess.run(load, capture_output=True, text=True, check=False))

    helper = threading.Thread(target=operator)
    helper.start()
    device = site.open("mua0:/assist")
    helper.join()
    device.close()
    listed, loaded = results
    assert listed.returncode == 0 and listed.stdout.startswith("mua0: request: load a volume")
    assert loaded.returncode == 0 and loaded.stdout == "mua0: loaded vol.tap\n"
    assert site.loaded("mua0") == "vol.tap" and site.store.requests() == []


def test_assist_times_out_with_enomedium(
    make_site: SiteMaker, caplog: pytest.LogCaptureFixture
) -> None:
    site = make_site(drive("mua0"), timeout=0.3)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="rmtd.opener"):
        code, message = errno_of(lambda: site.open("MUA0:/assist/comment=tape42"))
    assert time.monotonic() - started >= 0.3
    assert code == errno.ENOMEDIUM and "after waiting 0.3 s" in message
    assert site.store.requests() == []
    assert any("tape42" in r.getMessage() and "mua0" in r.getMessage() for r in caplog.records)


def test_assist_also_waits_when_the_loaded_volume_is_unloaded(make_site: SiteMaker) -> None:
    site = make_site(drive("mua0", "vol.tap", "/nounload"), timeout=0.2)
    new_image(site.root, "vol.tap")
    by_path = site.open("vol.tap")  # someone took it offline by its path
    by_path.ioctl(MtOp.MTOFFL, 1)
    by_path.close()
    assert errno_of(lambda: site.open("mua0:/assist"))[0] == errno.ENOMEDIUM
    site.store.load("mua0", "vol.tap")  # the operator reloads it
    site.open("mua0:/assist").close()


def test_names_inside_the_state_dir_are_refused(make_site: SiteMaker) -> None:
    site = make_site(drive("mua0", ".rmtd/vol.tap"), drive("mub0"))
    state = Path(site.store.state_dir)
    state.mkdir()
    new_image(state, "vol.tap")
    for name in (".rmtd/vol.tap", ".rmtd", "./.rmtd/vol.tap", "mua0"):
        code, message = errno_of(lambda name=name: site.open(name))  # type: ignore[misc]
        assert code == errno.EACCES and "reserved" in message, name
    assert errno_of(lambda: site.store.load("mub0", ".rmtd/vol.tap"))[0] == errno.EACCES
    code, message = errno_of(lambda: site.store.load("mub0", "/etc/passwd"))
    assert code == errno.EACCES and "not inside the root" in message


def test_a_real_drive_opens_its_device_and_is_loaded_by_hand(make_site: SiteMaker) -> None:
    site = make_site(DriveConfig("nst0", device="/dev/nst0"))
    if not os.path.exists("/dev/nst0"):  # the kernel answers (tests/drives fake a drive)
        code, message = errno_of(lambda: site.open("nst0:"))
        assert code == errno.ENOENT and message.startswith("nst0: open:")
    assert errno_of(lambda: site.store.load("nst0", "vol.tap"))[0] == errno.ENXIO
    assert errno_of(lambda: site.store.unload("NST0"))[0] == errno.ENXIO


def test_load_and_unload_rules(make_site: SiteMaker) -> None:
    site = make_site(drive("mua0", "a.tap"), drive("mub0"))
    for name in ("a.tap", "b.tap"):
        new_image(site.root, name)
    assert errno_of(lambda: site.store.load("mua0", "b.tap"))[0] == errno.EBUSY  # holds a.tap
    code, message = errno_of(lambda: site.store.load("mub0", "./a.tap"))
    assert code == errno.EBUSY and "already in drive mua0" in message
    assert errno_of(lambda: site.store.load("muz0", "b.tap"))[0] == errno.ENODEV
    assert errno_of(lambda: site.store.load("mub0", "nothere.tap"))[0] == errno.ENOENT
    assert site.loaded("mub0") is None
    assert site.store.load("mub0", str(site.root / "b.tap"))[1] == "b.tap"  # absolute, in root
    assert site.loaded("mub0") == "b.tap"
    busy = site.open("mub0:/nounload")
    assert errno_of(lambda: site.store.unload("mub0"))[0] == errno.EBUSY  # in use
    busy.close()
    assert site.loaded("mub0") == "b.tap"
    assert site.store.unload("mub0")[1] == "b.tap"
    assert errno_of(lambda: site.store.unload("mub0"))[0] == errno.ENOMEDIUM
    site.store.load("mua0", "a.tap")  # the volume it holds: a reload, which rewinds
    (site.root / "a.tap").unlink()
    assert site.store.unload("mua0")[1] == "a.tap"  # a vanished image still comes out


def test_drive_state_is_written_atomically_and_the_config_wins_when_changed(
    make_site: SiteMaker,
) -> None:
    site = make_site(drive("mua0", "a.tap"))
    new_image(site.root, "a.tap")
    site.store.unload("mua0")
    folder = Path(site.store.state_dir) / "drives"
    assert os.listdir(folder) == ["mua0.json"]
    entry = json.loads((folder / "mua0.json").read_text())
    assert entry == {"image": None, "configured": "a.tap"}
    assert site.loaded("mua0") is None
    changed = make_site(drive("mua0", "b.tap"))  # the administrator named another volume
    assert changed.loaded("mua0") == "b.tap"
    (folder / "mua0.json").write_text("{not json")
    assert site.loaded("mua0") == "a.tap"  # unreadable state: the configuration


def test_requests_of_processes_that_are_gone_are_dropped(make_site: SiteMaker) -> None:
    site = make_site(drive("mua0"))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    request = site.store.post_request("mua0", "x")
    stale = Path(request.path).with_name("mua0.stale.json")
    doc = {"drive": "mua0", "comment": None, "pid": int(gone.stdout), "since": 1.0}
    stale.write_text(json.dumps(doc))
    Path(request.path).with_name("junk.json").write_text("[1, 2")
    assert [(r.drive, r.comment, r.pid) for r in site.store.requests()] == [
        ("mua0", "x", os.getpid())
    ]
    assert not stale.exists()
    site.store.withdraw(request)
    site.store.withdraw(request)  # withdrawing twice is harmless
    assert site.store.requests() == []


def test_a_drives_default_qualifiers_are_a_qualifiers_value() -> None:
    assert drive("mua0", None, "/noassist/nomount").qualifiers == Qualifiers(mount=False)
