"""GNU tar and mt-gnu on ``/dev/nst0`` through rmtd, the drive faked by an LD_PRELOAD shim.

rmtd runs with ``tests/drives/faketape.c`` preloaded: its opens, reads, writes, ioctls and
closes of ``/dev/nst0`` and ``/dev/st0`` reach a small tape kept in a file, which the test reads
back (records and filemarks). Everything above the system calls is the real thing: the clients,
the RMT protocol, rmtd's opener and :class:`devices.realdrive.RealDrive`.
"""

from __future__ import annotations

import os
import re
import shlex
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.drives.conftest import compile_c
from tests.e2e.conftest import FAKERSH, RMTD

pytestmark = pytest.mark.e2e

FILEMARK = None


class FakeDrive:
    """rmtd (without a root, or with a config) in front of the fake drive, and clients."""

    def __init__(self, tmp_path: Path, shim: Path, rmtd_args: str = "") -> None:
        self.tmp = tmp_path
        self.tape = tmp_path / "tape"
        self.calls = tmp_path / "calls.log"
        self.log = tmp_path / "rmtd.log"
        self.shim = str(shim)
        preload = f"LD_PRELOAD={shlex.quote(self.shim)}"
        self.server = f"env {preload} {shlex.quote(RMTD)} {rmtd_args} -v --log {self.log}"

    def env(self, extra: dict[str, str] | None) -> dict[str, str]:
        env = {**os.environ, "RSH": FAKERSH, "SERVER": self.server}
        env.update(FAKETAPE_FILE=str(self.tape), FAKETAPE_LOG=str(self.calls), **(extra or {}))
        return {name: value for name, value in env.items() if value}

    def run(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None, stdin: bytes = b""
    ) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(
            list(args), env=self.env(env), cwd=self.tmp, capture_output=True, input=stdin,
            timeout=120, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise AssertionError(f"{args} failed: {done.stderr.decode()}\n{log}")
        return done

    def tar(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
        done = self.run("tar", f"--rsh-command={FAKERSH}", "--rmt-command=rmtd", *args,
                        check=check, env=env)  # fmt: skip
        return done.stdout.decode() + done.stderr.decode()

    def mt(self, device: str, *args: str, check: bool = True) -> str:
        done = self.run("mt-gnu", f"--rsh-command={FAKERSH}", "-f", f"localhost:{device}", *args,
                        check=check)  # fmt: skip
        return done.stdout.decode() + done.stderr.decode()

    def status(self, device: str = "/dev/nst0") -> str:
        """``mt status`` as mt-st prints it, through rmtd (``vmt -f host:DEVICE status``)."""
        vmt = str(Path(sys.executable).with_name("vmt"))
        done = self.run(vmt, "--rsh-command", FAKERSH, "-f", f"localhost:{device}", "status")
        return done.stdout.decode()

    def contents(self) -> tuple[int, list[bytes | None]]:
        """The tape's position (object index) and objects (``None`` for a filemark)."""
        data = self.tape.read_bytes()
        assert data[:8] == b"FAKETAP1"
        position = struct.unpack_from("<i", data, 8)[0]
        objects: list[bytes | None] = []
        offset = 24
        while offset < len(data):
            (length,) = struct.unpack_from("<i", data, offset)
            offset += 4
            objects.append(FILEMARK if length < 0 else data[offset : offset + length])
            offset += max(length, 0)
        return position, objects

    def drive_calls(self) -> list[str]:
        """The system calls the drive saw since the last look."""
        lines = self.calls.read_text().splitlines() if self.calls.exists() else []
        self.calls.unlink(missing_ok=True)
        return lines


@pytest.fixture(scope="session")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faketape-e2e") / "faketape.so"
    return compile_c("faketape.c", out, "-shared", "-fPIC")


@pytest.fixture
def drive(tmp_path: Path, shim: Path) -> FakeDrive:
    return FakeDrive(tmp_path, shim)


def tree(base: Path, name: str, files: int) -> Path:
    top = base / name
    top.mkdir()
    for n in range(files):
        (top / f"{name}-{n}.txt").write_text(f"{name} file {n}\n" * (n * 700 + 1))
    return top


def position_numbers(status: str) -> tuple[int, int]:
    found = re.search(r"File number=(-?\d+), block number=(-?\d+)", status)
    assert found, status
    return int(found[1]), int(found[2])


def test_tar_writes_and_reads_two_archives_on_nst0(drive: FakeDrive, tmp_path: Path) -> None:
    tree(tmp_path, "first", 3)
    second = tree(tmp_path, "second", 4)
    drive.tar("-cf", "localhost:/dev/nst0", "-C", str(tmp_path), "first")
    drive.tar("-b", "4", "-cf", "localhost:/dev/nst0", "-C", str(tmp_path), "second")
    position, objects = drive.contents()
    marks = [n for n, o in enumerate(objects) if o is FILEMARK]
    assert len(marks) == 2 and marks[1] == len(objects) - 1  # a filemark after each archive
    assert position == len(objects)  # nst: no rewind
    assert {len(o or b"") for o in objects[: marks[0]]} == {10240}  # tar's 20-block records
    assert {len(o or b"") for o in objects[marks[0] + 1 : -1]} == {2048}  # -b 4
    assert position_numbers(drive.status()) == (2, 0)

    drive.mt("/dev/nst0", "rewind")
    assert position_numbers(drive.status()) == (0, 0)
    listing = drive.tar("-tf", "localhost:/dev/nst0")
    assert sorted(listing.split()) == ["first/"] + [f"first/first-{n}.txt" for n in range(3)]
    drive.mt("/dev/nst0", "fsf", "1")
    assert drive.drive_calls()[-3:] == ["open /dev/nst0 O_RDONLY", "ioctl MTIOCTOP MTFSF 1",
                                        "close"]  # fmt: skip
    assert position_numbers(drive.status()) == (1, 0)
    out = tmp_path / "out"
    out.mkdir()
    drive.tar("-b", "4", "-xf", "localhost:/dev/nst0", "-C", str(out))
    for n in range(4):
        name = f"second-{n}.txt"
        assert (out / "second" / name).read_text() == (second / name).read_text()
    assert not (out / "first").exists()


def test_status_is_the_drives_own(drive: FakeDrive, tmp_path: Path) -> None:
    tree(tmp_path, "a", 1)
    drive.tar("-cf", "localhost:/dev/nst0/blocksize=10240/density=0x13", "-C", str(tmp_path), "a")
    drive.drive_calls()
    status = drive.status()
    assert "SCSI 2 tape drive" in status
    assert "Tape block size 10240 bytes. Density code 0x13" in status
    assert re.search(r"General status bits on \(89000000\):\s+EOF EOD ONLINE", status), status
    assert drive.drive_calls() == ["open /dev/nst0 O_RDONLY|O_NONBLOCK", "ioctl MTIOCGET",
                                   "close"]  # fmt: skip
    # mt-gnu's status sends MTNOP then MTIOCGET; GNU mt (up to 2.15) then refuses any reply
    # longer than its 8-byte idea of struct mtget ("Value too large"): a client limit.
    drive.mt("/dev/nst0", "status", check=False)
    assert drive.drive_calls()[1:3] == ["ioctl MTIOCTOP MTNOP 1", "ioctl MTIOCGET"]


def test_an_injected_eio_reaches_the_client_as_e5(drive: FakeDrive, tmp_path: Path) -> None:
    tree(tmp_path, "a", 1)
    drive.tar("-cf", "localhost:/dev/nst0", "-C", str(tmp_path), "a")
    drive.mt("/dev/nst0", "rewind")
    failed = drive.tar("-tf", "localhost:/dev/nst0", check=False, env={"FAKETAPE_FAIL": "read=5"})
    assert "Cannot read: Input/output error" in failed
    # the RMT exchange itself: rmtd on stdin and stdout, as rsh would run it
    eio = {"LD_PRELOAD": drive.shim, "FAKETAPE_FAIL": "read=5"}
    done = drive.run(RMTD, env=eio, stdin=b"O/dev/nst0\n0\nR10240\nC\n")
    assert done.stdout == b"A0\nE5\n/dev/nst0: read: Input/output error\nA0\n"
    enospc = {"LD_PRELOAD": drive.shim, "FAKETAPE_FAIL": "MTFSF=28"}
    done = drive.run(RMTD, env=enospc, stdin=b"O/dev/nst0\n0\nI1\n1\n")
    assert done.stdout == b"A0\nE28\n/dev/nst0: MTFSF 1: No space left on device\n"


def test_qualifiers_act_with_the_drives_own_operations(drive: FakeDrive, tmp_path: Path) -> None:
    tree(tmp_path, "a", 2)
    failed = drive.tar("-cf", "localhost:/dev/nst0/nowrite", "-C", str(tmp_path), "a", check=False)
    assert "Read-only file system" in failed
    assert drive.drive_calls() == []  # refused before the drive was opened
    drive.tar("-cf", "localhost:/dev/nst0/rewind", "-C", str(tmp_path), "a")
    assert drive.drive_calls()[-3:] == ["write 10240", "ioctl MTIOCTOP MTREW 1", "close"]
    position, objects = drive.contents()
    assert position == 0 and objects[-1] is FILEMARK  # st's filemark, then the rewind
    drive.mt("/dev/nst0/unload", "fsf", "1")
    assert drive.drive_calls()[-2:] == ["ioctl MTIOCTOP MTOFFL 1", "close"]
    failed = drive.tar("-tf", "localhost:/dev/nst0", check=False)
    assert "No medium found" in failed


def test_st0_rewinds_at_close_as_the_kernel_does(drive: FakeDrive, tmp_path: Path) -> None:
    tree(tmp_path, "a", 1)
    drive.tar("-cf", "localhost:/dev/st0", "-C", str(tmp_path), "a")
    assert drive.contents()[0] == 0
    assert "ioctl MTIOCTOP" not in " ".join(drive.drive_calls())  # the kernel's doing, not ours
    assert "a/a-0.txt" in drive.tar("-tf", "localhost:/dev/st0")


def test_under_a_root_the_drive_is_a_named_drive(tmp_path: Path, shim: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    config = tmp_path / "rmtd.toml"
    config.write_text(
        f'root = {str(served)!r}\n[drives.tape0]\ndevice = "/dev/nst0"\nqualifiers = "/rewind"\n'
    )
    drive = FakeDrive(tmp_path, shim, f"--config {shlex.quote(str(config))}")
    tree(tmp_path, "a", 2)
    failed = drive.tar("-cf", "localhost:/dev/nst0", "-C", str(tmp_path), "a", check=False)
    assert "Permission denied" in failed
    drive.tar("-cf", "localhost:tape0:", "-C", str(tmp_path), "a")
    assert drive.contents()[0] == 0  # the drive's /REWIND
    assert "a/a-1.txt" in drive.tar("-tf", "localhost:TAPE0:")


def test_vmt_works_on_a_local_drive_as_mt_does(drive: FakeDrive) -> None:
    vmt = str(Path(sys.executable).with_name("vmt"))
    local = {"LD_PRELOAD": drive.shim}
    drive.run(vmt, "-f", "/dev/nst0", "weof", "2", env=local)
    assert drive.contents() == (2, [FILEMARK, FILEMARK])
    out = drive.run(vmt, "-f", "/dev/nst0", "tell", env=local).stdout.decode()
    assert out.strip() == "At block 2."
    assert drive.drive_calls()[-3:] == ["open /dev/nst0 O_RDONLY", "ioctl MTIOCPOS", "close"]
