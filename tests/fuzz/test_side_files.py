"""Every reader survives corrupted side files beside a valid image (hypothesis, bounded).

The drive state (``IMAGE.rmtd``, JSON) and the saved index (``IMAGE.rmtd-index``) are read on
every open, and the image's identity still matches them after they are damaged (only they
changed): a flipped bit there must not make a reader leave the file, trust a record of
terabytes, or fail with anything but the errors a reader may give.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.health import verify
from devices.interface import MtOp, OpenOptions
from devices.vtape import open_tape_image
from rmtd.status import pack_mtget
from tests.fuzz.corruptions import EXTREMES, Corruption, corrupt
from tests.fuzz.readers import (
    FORMATS,
    MOTIONS,
    OPEN_ERRORS,
    FuzzFormat,
    attempt,
    check_index,
    checked_storage,
    exercise_drive,
    scratch,
    vmt_tools,
)
from tests.simh_codec import Obj

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

objects_strategy = st.lists(
    st.one_of(st.none(), st.binary(min_size=1, max_size=64)), min_size=1, max_size=10
)
index_damage = st.lists(
    st.builds(
        Corruption,
        kind=st.sampled_from(["flip", "span", "truncate", "insert"]),
        at=st.integers(0, 1 << 16),
        data=st.binary(min_size=1, max_size=8),
    ),
    max_size=2,
)
STATE_FIELDS = [
    ("drive", "position"),
    ("drive", "fileno"),
    ("drive", "blkno"),
    ("drive", "block_size"),
    ("volume", "density"),
    ("volume", "capacity"),
    ("volume", "early_warning"),
    (None, "writing_since"),
    (None, "writing_check"),
]
huge_or_negative = st.one_of(
    st.sampled_from([-(1 << 63), -(1 << 31), -5, -2, -1, 0, 1, 1 << 31, 1 << 40, 1 << 70]),
    st.sampled_from(EXTREMES),
)
state_damage = st.lists(st.tuples(st.sampled_from(STATE_FIELDS), huge_or_negative), max_size=3)


def damage_state(path: Path, changes: list[tuple[tuple[str | None, str], int]]) -> None:
    state: dict[str, Any] = json.loads(path.read_text())
    for (part, name), value in changes:
        (state if part is None else state[part])[name] = value
    path.write_text(json.dumps(state))


@given(
    item=st.sampled_from(FORMATS),
    objects=objects_strategy,
    reads=st.integers(0, 4),
    index_changes=index_damage,
    state_changes=state_damage,
)
@SETTINGS
def test_every_reader_survives_damaged_side_files(
    item: FuzzFormat,
    objects: list[Obj],
    reads: int,
    index_changes: list[Corruption],
    state_changes: list[tuple[tuple[str | None, str], int]],
) -> None:
    with scratch() as directory:
        image = directory / f"image{item.suffix}"
        image.write_bytes(item.build(objects))
        drive = open_tape_image(str(image), OpenOptions())
        for _ in range(reads):  # a saved position, file and block number that mean something
            attempt("read", frozenset({5, 12}), lambda: drive.readinto(memoryview(bytearray(99))))
        drive.close()
        index = Path(f"{image}.rmtd-index")
        index.write_bytes(corrupt(index.read_bytes(), item, index_changes)[0])
        damage_state(Path(f"{image}.rmtd"), state_changes)
        clean = image.read_bytes()
        size = len(clean)
        with checked_storage(max(size, item.fmt.max_record)):
            for options in (OpenOptions(), OpenOptions(nonblock=True)):
                opened = attempt(
                    "open",
                    OPEN_ERRORS | {123},  # ENOMEDIUM: a state that says unloaded
                    lambda o=options: open_tape_image(str(image), o, kind=item.kind),  # type: ignore[misc]
                )
                if opened is None:
                    continue
                try:
                    check_index(opened.image.index, item.fmt, size)
                    pack_mtget(opened.status())  # what rmtd answers to a status request
                    exercise_drive(opened, MOTIONS)
                    opened.ioctl(MtOp.MTTELL, 0)
                finally:
                    opened.close()
            vmt_tools(image)
            verify(str(image), item.kind)
            writer = attempt(
                "write open",
                OPEN_ERRORS | {30},  # EROFS: an unreadable state write-protects the volume
                lambda: open_tape_image(str(image), OpenOptions(write=True), kind=item.kind),
            )
            if writer is not None:
                writer.close()
        assert image.read_bytes() == clean  # nothing but a write changes the image
