"""The ``--target state`` of ``python -m bench.fuzz.images``: fuzzed drive states.

One valid image is written once, opened once (so that its index is saved and trusted), and
never written again, so that its identity stays what the states name. Each input is then the
text of its drive state (``IMAGE.rmtd``, JSON), and the readers run over the image as they do
for fuzzed images: read-only opens (blocking and ``O_NONBLOCK``), drive and ``/STREAM`` reads,
the motions, ``struct mtget`` as rmtd packs it, ``vmt ls`` and ``vmt read``, ``health.verify``.
The image must come out byte for byte as it was.
"""

from __future__ import annotations

import errno
import json
import random
from functools import partial
from pathlib import Path

from devices.health import verify
from devices.interface import MtOp, OpenOptions
from devices.vtape import open_tape_image
from rmtd.status import pack_mtget
from tests.fuzz.corruptions import EXTREMES
from tests.fuzz.readers import (
    FORMATS,
    MOTIONS,
    OPEN_ERRORS,
    ReaderBugError,
    attempt,
    check_index,
    checked_storage,
    exercise_drive,
    vmt_tools,
)
from tests.simh_codec import encode

TAPE = encode([b"abc", b"defg" * 100, None, b"x" * 10240, b"y", None, None, b"z" * 7])
FIELDS = (
    ("drive", "position"),
    ("drive", "fileno"),
    ("drive", "blkno"),
    ("drive", "block_size"),
    ("drive", "loaded"),
    ("drive", "at_eod"),
    ("volume", "density"),
    ("volume", "capacity"),
    ("volume", "early_warning"),
    ("volume", "write_protected"),
    ("volume", "incomplete"),
    (None, "writing_since"),
    (None, "writing_check"),
    (None, "identity"),
)
EIO = frozenset({errno.EIO})
VALUES = (-(1 << 63), -5, -1, 0, 1, 2, 3, 7, 512, 1 << 31, 1 << 40, 1 << 70, *EXTREMES)


class StateRunner:
    """Runs the readers over the fixed image with one fuzzed state per call."""

    def __init__(self, directory: Path) -> None:
        self.item = FORMATS[0]
        self.image = directory / f"state-target{self.item.suffix}"
        self.image.write_bytes(TAPE)
        self.state = Path(f"{self.image}.rmtd")
        self.executions = 0
        self.seeds = self._seed_states()

    def _seed_states(self) -> list[bytes]:
        """States the drive itself saves: after reads, in fixed-block mode, unloaded."""
        seeds = []
        for reads, ops in (
            (0, ()),
            (2, ()),
            (4, ((MtOp.MTSETBLK, 512),)),
            (1, ((MtOp.MTEOM, 0),)),
            (0, ((MtOp.MTOFFL, 0),)),
        ):
            self.state.unlink(missing_ok=True)
            drive = open_tape_image(str(self.image), OpenOptions())
            try:
                for _ in range(reads):
                    attempt("read", EIO, partial(drive.readinto, memoryview(bytearray(99999))))
                for op, count in ops:
                    attempt("op", EIO, partial(drive.ioctl, op, count))
            finally:
                drive.close()
            seeds.append(self.state.read_bytes())
        return seeds

    def __call__(self, data: bytes) -> None:
        """Run every reader with ``data`` as the drive state."""
        self.executions += 1
        self.state.write_bytes(data)
        image, item = self.image, self.item
        with checked_storage(max(len(TAPE), item.fmt.max_record)):
            for options in (OpenOptions(), OpenOptions(nonblock=True)):
                drive = attempt(
                    "open",
                    OPEN_ERRORS | {errno.ENOMEDIUM},
                    partial(open_tape_image, str(image), options, kind=item.kind),
                )
                if drive is None:
                    continue
                try:
                    check_index(drive.image.index, item.fmt, len(TAPE))
                    pack_mtget(drive.status())
                    if drive.loaded:
                        exercise_drive(drive, MOTIONS)
                finally:
                    drive.close()
                self.state.write_bytes(data)  # the close saved its own
            vmt_tools(image)
            verify(str(image), item.kind)
        if image.read_bytes() != TAPE:
            raise ReaderBugError("a reader changed the image")


def mutate_state(data: bytes, rng: random.Random) -> bytes:
    """Set one field of a JSON state to an extreme value (or the bytes unchanged if no JSON)."""
    try:
        state = json.loads(data)
    except ValueError:
        return data
    if not isinstance(state, dict):
        return data
    part, name = rng.choice(FIELDS)
    target = state if part is None else state.get(part)
    if isinstance(target, dict):
        target[name] = rng.choice((*VALUES, True, None, "x", [3, -1]))
    return json.dumps(state).encode()
