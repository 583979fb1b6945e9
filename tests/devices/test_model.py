"""The drive against a small reference model of Linux ``st`` on a SIMH image.

The model is ``st`` as Documentation/scsi/st.rst and st.c describe it, written plainly: a list of
objects, a position, st's file and block counters, the EOD flag and whether the last operation
was a write. A hypothesis state machine drives a real drive on a real image and the model side by
side and compares data, errno, position, counters and the BOT/EOF/EOD bits after every step; now
and then it closes and reopens the drive to check that the state persists and that the image on
disk holds exactly the model's objects.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from devices.drive import VirtualTapeDrive
from devices.interface import GeneralStatus, MtOp, OpenOptions
from devices.state import VolumeInfo
from devices.vtape import create_tape_image, open_tape_image
from tests.simh_codec import Obj, encode

G = GeneralStatus
POSITION_BITS = G.BOT | G.EOF | G.EOD
VECTORS = Path(__file__).parent.parent / "vectors"


class ModelError(Exception):
    """The model's failure: an errno."""

    def __init__(self, code: int) -> None:
        super().__init__(errno.errorcode[code])
        self.code = code


class Model:
    """Reference semantics: what the brief says a drive does, in the simplest terms."""

    def __init__(self) -> None:
        self.objects: list[Obj] = []
        self.pos = self.fileno = self.blkno = 0
        self.eod = self.wrote = False
        self.writable = True

    def marks(self, lo: int, hi: int) -> list[int]:
        return [i for i in range(lo, hi) if self.objects[i] is None]

    def add(self, attr: str, delta: int) -> None:  # a counter moves only while known
        if getattr(self, attr) >= 0:
            setattr(self, attr, getattr(self, attr) + delta)

    def fail(self, code: int) -> ModelError:
        return ModelError(code)

    def read(self, count: int) -> bytes:
        if count == 0:
            return b""
        self.wrote = False
        if self.pos >= len(self.objects):
            zero = self.blkno == 0 and self.fileno != 0  # just past a filemark, not BOT
            self.blkno, self.eod = -1, True
            if zero:
                return b""
            raise self.fail(errno.EIO)
        obj = self.objects[self.pos]
        self.pos += 1
        if obj is None:
            self.add("fileno", 1)
            self.blkno = 0
            return b""
        self.add("blkno", 1)
        if len(obj) > count:
            raise self.fail(errno.ENOMEM)
        return obj

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise self.fail(errno.EBADF)
        if data:
            self.objects[self.pos :] = [data]
            self.pos, self.eod, self.wrote = len(self.objects), False, True
            self.add("blkno", 1)
        return len(data)

    def op(self, op: MtOp, n: int) -> int:
        """An MTIOCTOP: the implicit filemark after a write, then the operation."""
        asked = n
        if self.wrote and op in (MtOp.MTREW, MtOp.MTSEEK, MtOp.MTBSF, MtOp.MTBSFM):
            self.weof(1)
            n += op in (MtOp.MTBSF, MtOp.MTBSFM)
        self.wrote = self.eod = False
        getattr(self, op.name.lower())(n)
        return asked

    def weof(self, n: int) -> None:
        if not self.writable:
            raise self.fail(errno.EACCES)
        if n:
            self.objects[self.pos :] = [None] * n
            self.pos = len(self.objects)
            self.add("fileno", n)
            self.blkno = 0

    def mtweof(self, n: int) -> None:
        self.weof(n)

    def mtfsf(self, n: int) -> None:
        if n == 0:
            return
        ahead = self.marks(self.pos, len(self.objects))
        if len(ahead) >= n:
            self.pos, self.blkno = ahead[n - 1] + 1, 0
            self.add("fileno", n)
            return
        self.pos, self.eod, self.blkno = len(self.objects), True, -1
        self.add("fileno", len(ahead))
        raise self.fail(errno.EIO)

    def mtbsf(self, n: int) -> None:
        if n == 0:
            return
        behind = self.marks(0, self.pos)
        if len(behind) >= n:
            self.pos, self.blkno = behind[-n], -1
            self.add("fileno", -n)
            return
        self.pos, self.blkno = 0, 0
        self.add("fileno", -len(behind))
        raise self.fail(errno.EIO)

    def mtfsfm(self, n: int) -> None:
        if n:
            self.mtfsf(n)
            self.mtbsf(1)

    def mtbsfm(self, n: int) -> None:
        if n:
            self.mtbsf(n)
            self.mtfsf(1)

    def mtfsr(self, n: int) -> None:
        ahead = self.marks(self.pos, len(self.objects))
        stop = ahead[0] if ahead else len(self.objects)
        room = min(n, stop - self.pos)
        self.pos += room
        self.add("blkno", room)
        if room == n:
            return
        if ahead:
            self.pos, self.blkno = self.pos + 1, 0
            self.add("fileno", 1)
        else:
            self.eod = True
        raise self.fail(errno.EIO)

    def mtbsr(self, n: int) -> None:
        behind = self.marks(0, self.pos)
        stop = behind[-1] + 1 if behind else 0
        room = min(n, self.pos - stop)
        self.pos -= room
        if self.blkno >= 0:  # going below block 0 means the counter was off: unknown
            self.blkno = self.blkno - room if self.blkno >= room else -1
        if room == n:
            return
        if behind:
            self.pos, self.blkno = self.pos - 1, -1
            self.add("fileno", -1)
        raise self.fail(errno.EIO)

    def mteom(self, _n: int) -> None:
        self.add("fileno", len(self.marks(self.pos, len(self.objects))))
        self.pos, self.blkno, self.eod = len(self.objects), -1, True

    def mtrew(self, _n: int) -> None:
        self.pos = self.fileno = self.blkno = 0

    def mtseek(self, n: int) -> None:
        if n == 0:
            self.mtrew(0)
            return
        self.pos, self.fileno, self.blkno = min(n, len(self.objects)), -1, -1
        if n > len(self.objects):
            self.eod = True
            raise self.fail(errno.EIO)

    def close(self, writable: bool) -> None:
        if self.wrote:
            self.weof(1)
        self.wrote = False  # the EOD flag stays with the drive, as in st
        self.writable = writable

    def gstat(self) -> G:
        bits = G.NONE
        if self.fileno == 0 and self.blkno == 0:
            bits |= G.BOT
        elif self.blkno == 0 and self.fileno != 0:
            bits |= G.EOF
        return bits | (G.EOD if self.eod else G.NONE)

    def check_counters(self) -> None:
        """While known, the file and block numbers say where the position is."""
        if self.fileno >= 0:
            assert self.fileno == len(self.marks(0, self.pos))
        if self.blkno >= 0:
            behind = self.marks(0, self.pos)
            assert self.blkno <= self.pos - (behind[-1] + 1 if behind else 0)


Outcome = tuple[str, object]

counts = st.integers(min_value=0, max_value=3)
records = st.binary(min_size=1, max_size=12)
read_counts = st.sampled_from([0, 1, 2, 4, 8, 16])


class TapeMachine(RuleBasedStateMachine):
    """A real drive and the model, driven together."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="rmtd-model-")
        self.path = os.path.join(self.dir, "model.tap")
        create_tape_image(self.path, VolumeInfo())
        self.drive: VirtualTapeDrive | None = open_tape_image(self.path, OpenOptions(write=True))
        self.model = Model()

    @property
    def tape(self) -> VirtualTapeDrive:
        assert self.drive is not None
        return self.drive

    def both(self, real: Callable[[], object], model: Callable[[], object]) -> None:
        got: Outcome
        want: Outcome
        try:
            got = ("ok", real())
        except OSError as exc:
            got = ("error", errno.errorcode.get(exc.errno or 0))
        try:
            want = ("ok", model())
        except ModelError as exc:
            want = ("error", errno.errorcode[exc.code])
        assert got == want

    def ioctl(self, op: MtOp, n: int) -> None:
        self.both(lambda: self.tape.ioctl(op, n), lambda: self.model.op(op, n))

    @rule(count=read_counts)
    def read(self, count: int) -> None:
        def real() -> bytes:
            buf = bytearray(count)
            return bytes(buf[: self.tape.readinto(memoryview(buf))])

        self.both(real, lambda: self.model.read(count))

    @rule(count=read_counts)
    def read_as_extent(self, count: int) -> None:
        """A read the way the session serves R: as an extent when the drive gives one."""

        def real() -> bytes:
            extent = self.tape.read_extent(count)
            if extent is None:
                buf = bytearray(count)
                return bytes(buf[: self.tape.readinto(memoryview(buf))])
            assert 0 < extent.length <= count
            return os.pread(extent.fd, extent.length, extent.offset)

        self.both(real, lambda: self.model.read(count))

    @rule(data=records | st.just(b""))
    def write(self, data: bytes) -> None:
        self.both(lambda: self.tape.write(data), lambda: self.model.write(data))

    @rule(n=counts)
    def weof(self, n: int) -> None:
        self.ioctl(MtOp.MTWEOF, n)

    @rule(n=counts)
    def fsf(self, n: int) -> None:
        self.ioctl(MtOp.MTFSF, n)

    @rule(n=counts)
    def bsf(self, n: int) -> None:
        self.ioctl(MtOp.MTBSF, n)

    @rule(n=counts)
    def fsr(self, n: int) -> None:
        self.ioctl(MtOp.MTFSR, n)

    @rule(n=counts)
    def bsr(self, n: int) -> None:
        self.ioctl(MtOp.MTBSR, n)

    @rule(n=counts)
    def fsfm(self, n: int) -> None:
        self.ioctl(MtOp.MTFSFM, n)

    @rule(n=counts)
    def bsfm(self, n: int) -> None:
        self.ioctl(MtOp.MTBSFM, n)

    @rule()
    def eom(self) -> None:
        self.ioctl(MtOp.MTEOM, 1)

    @rule()
    def rewind(self) -> None:
        self.ioctl(MtOp.MTREW, 1)

    @rule(data=st.data())
    def seek(self, data: st.DataObject) -> None:
        self.ioctl(MtOp.MTSEEK, data.draw(st.integers(0, len(self.model.objects) + 2)))

    @rule()
    def tell(self) -> None:
        self.both(self.tape.tell, lambda: self.model.pos)

    @rule(writable=st.booleans())
    def reopen(self, writable: bool) -> None:
        self.tape.close()
        self.drive = None
        self.model.close(writable)
        assert Path(self.path).read_bytes() == encode(self.model.objects)
        self.drive = open_tape_image(self.path, OpenOptions(write=writable))

    @invariant()
    def same_position(self) -> None:
        self.model.check_counters()
        status = self.tape.status()
        real = (self.tape.tell(), status.fileno, status.blkno, status.gstat & POSITION_BITS)
        model = self.model
        assert real == (model.pos, model.fileno, model.blkno, model.gstat())

    def teardown(self) -> None:
        try:
            if self.drive is not None:
                self.drive.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


TestTapeModel = TapeMachine.TestCase
TestTapeModel.settings = settings(max_examples=5 * settings().max_examples, stateful_step_count=60)


def _status(drive: VirtualTapeDrive) -> tuple[int, int, G]:
    status = drive.status()
    return status.fileno, status.blkno, status.gstat & POSITION_BITS


def test_worked_trace(tmp_path: Path) -> None:
    """Read vec.tap to the end as st does: 0 once at block 0, then EIO (st.c, read_tape)."""
    path = str(tmp_path / "vec.tap")
    shutil.copyfile(VECTORS / "vec.tap", path)
    drive = open_tape_image(path, OpenOptions(write=True))
    buf = memoryview(bytearray(64))

    def read(count: int = 64) -> bytes | str:
        try:
            return bytes(buf[: drive.readinto(buf[:count])])
        except OSError as exc:
            return errno.errorcode[exc.errno or 0]

    def op(code: MtOp, n: int) -> int | str:
        try:
            return drive.ioctl(code, n)
        except OSError as exc:
            return errno.errorcode[exc.errno or 0]

    assert _status(drive) == (0, 0, G.BOT)  # 1
    assert (read(), _status(drive)) == (b"HELLO", (0, 1, G.NONE))  # 2
    assert (read(2), _status(drive)) == ("ENOMEM", (0, 2, G.NONE))  # 3
    assert (read(), _status(drive)) == (b"", (1, 0, G.EOF))  # 4
    assert (read(), _status(drive)) == (b"XYZ", (1, 1, G.NONE))  # 5
    assert (read(), _status(drive)) == (b"", (2, 0, G.EOF))  # 6
    assert (read(), _status(drive)) == (b"", (3, 0, G.EOF))  # 7
    assert (read(), _status(drive)) == (b"", (3, -1, G.EOD))  # 8
    assert (read(), _status(drive)) == ("EIO", (3, -1, G.EOD))  # 9
    assert (op(MtOp.MTREW, 1), _status(drive)) == (1, (0, 0, G.BOT))  # 10
    assert (op(MtOp.MTFSF, 1), _status(drive), drive.tell()) == (1, (1, 0, G.EOF), 3)  # 11
    assert (op(MtOp.MTBSF, 1), _status(drive), drive.tell()) == (1, (0, -1, G.NONE), 2)  # 12
    assert (op(MtOp.MTFSR, 1), _status(drive), drive.tell()) == ("EIO", (1, 0, G.EOF), 3)  # 13
    assert (op(MtOp.MTBSFM, 1), _status(drive), drive.tell()) == (1, (1, 0, G.EOF), 3)  # 14
    assert drive.write(b"NEW") == 3  # 15
    drive.close()
    assert Path(path).read_bytes() == encode([b"HELLO", b"ABCD", None, b"NEW", None])
    drive = open_tape_image(path, OpenOptions())
    assert _status(drive) == (2, 0, G.EOF)
    drive.close()


def test_model_reads_vec_like_the_trace() -> None:
    """The model itself gives the trace's reads, so the state machine compares against st."""
    model = Model()
    model.objects = [b"HELLO", b"ABCD", None, b"XYZ", None, None]
    got: list[bytes | str] = []
    for count in (64, 2, 64, 64, 64, 64, 64, 64):
        try:
            got.append(model.read(count))
        except ModelError as exc:
            got.append(errno.errorcode[exc.code])
    assert got == [b"HELLO", "ENOMEM", b"", b"XYZ", b"", b"", b"", "EIO"]
    assert (model.fileno, model.blkno, model.gstat()) == (3, -1, G.EOD)
    assert model.op(MtOp.MTBSF, 1) == 1
    assert (model.pos, model.fileno, model.blkno) == (5, 2, -1)
