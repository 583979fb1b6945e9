"""Every reader survives corrupted images of every format (hypothesis, bounded examples).

Each example builds a valid image with the format's builder, damages it (``corruptions.py``),
and runs every reader over it (``readers.exercise``): each gives data, a clean end, or OSError
with EIO (ENOMEM for a record longer than the count, EMEDIUMTYPE for bytes that are no image);
no read leaves the file, no buffer grows past the file or the format's largest record, and an
open for writing closed without a write changes no byte. The objects before the first damaged
byte still read back as they were written.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from devices.formats.index import ObjectIndex
from devices.interface import MtOp, OpenOptions
from devices.vtape import open_tape_image
from tests.crashes import crash_mark
from tests.fuzz.corruptions import EXTREMES, KINDS, Corruption, corrupt, object_starts
from tests.fuzz.readers import (
    FORMATS,
    MOTIONS,
    OPEN_ERRORS,
    FuzzFormat,
    ReaderBugError,
    attempt,
    checked_storage,
    exercise,
    remove_side_files,
    scratch,
)
from tests.integrity.oracle import MemoryStorage
from tests.simh_codec import Obj, encode

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

objects_strategy = st.lists(
    st.one_of(
        st.none(),
        st.binary(min_size=1, max_size=64),
        st.integers(1, 70000).map(lambda n: bytes([n % 251]) * n),
    ),
    min_size=1,
    max_size=8,
)
corruption_strategy = st.builds(
    Corruption,
    kind=st.sampled_from(KINDS),
    at=st.integers(0, 1 << 20),
    data=st.binary(min_size=1, max_size=12),
    value=st.integers(0, len(EXTREMES) - 1),
    width=st.sampled_from([2, 4]),
    shift=st.integers(0, 1 << 20),
    length=st.integers(1, 96),
)
motion_strategy = st.lists(
    st.tuples(
        st.sampled_from(
            [MtOp.MTFSF, MtOp.MTBSF, MtOp.MTFSR, MtOp.MTBSR, MtOp.MTEOM, MtOp.MTSEEK, MtOp.MTREW]
        ).map(int),
        st.integers(0, 6),
    ),
    max_size=8,
)


def prefix_reads_back(path: Path, item: FuzzFormat, objects: Sequence[Obj], first: int) -> None:
    """The objects wholly before ``first`` read back as written (a forced read-only open)."""
    clean = item.build(objects)
    starts = (*object_starts(clean, item), len(clean))
    whole = [k for k in range(len(objects)) if starts[k + 1] <= first]
    remove_side_files(path)
    drive = open_tape_image(str(path), OpenOptions(), kind=item.kind, accept_foreign=True)
    try:
        for k in whole:
            buffer = bytearray(max(1, len(objects[k] or b"")))
            got = drive.readinto(memoryview(buffer))
            expected = objects[k]
            assert (bytes(buffer[:got]) if got else None) == expected, f"object {k}"
    finally:
        drive.close()


@pytest.mark.parametrize("item", FORMATS, ids=lambda f: f.kind.name)
@SETTINGS
@given(
    objects=objects_strategy,
    changes=st.lists(corruption_strategy, min_size=1, max_size=3),
    motions=st.one_of(st.just(list(MOTIONS)), motion_strategy),
)
def test_every_reader_survives_corruption(
    item: FuzzFormat,
    objects: list[Obj],
    changes: list[Corruption],
    motions: list[tuple[int, int]],
) -> None:
    clean = item.build(objects)
    data, first = corrupt(clean, item, changes)
    with scratch() as directory:
        seen = exercise(data, item, directory, motions)
        assert seen.log.reads > 0 or not data  # an empty file needs no read
        assert seen.log.largest <= max(len(data), item.fmt.max_record)
        prefix_reads_back(directory / f"image{item.suffix}", item, objects, first)


@pytest.mark.parametrize("item", FORMATS, ids=lambda f: f.kind.name)
def test_clean_images_read_whole(item: FuzzFormat) -> None:
    objects: list[Obj] = [b"a" * 10240, b"bc", None, b"d" * 70000, None, None]
    with scratch() as directory:
        exercise(item.build(objects), item, directory)
        prefix_reads_back(directory / f"image{item.suffix}", item, objects, 1 << 30)


def test_a_read_outside_the_file_is_caught(tmp_path: Path) -> None:
    from devices.storage import FileStorage

    path = tmp_path / "x.tap"
    path.write_bytes(encode([b"abc"]))
    storage = FileStorage.open(str(path), writable=False)
    try:
        with checked_storage(limit=64) as log:
            storage.read_into(0, memoryview(bytearray(12)))
            with pytest.raises(ReaderBugError, match="outside"):
                storage.read_into(12, memoryview(bytearray(4)))
            with pytest.raises(ReaderBugError, match="limit"):
                storage.read_into(0, memoryview(bytearray(65)))
        assert log.reads == 1
    finally:
        storage.close()


def test_an_unexpected_errno_is_a_bug(tmp_path: Path) -> None:
    from tests.fuzz.readers import READ_ERRORS, attempt

    def fails() -> int:
        raise OSError(errno.EINVAL, "nope")

    with pytest.raises(ReaderBugError, match=r"OSError\(22"):
        attempt("read", READ_ERRORS, fails)
    assert (
        attempt("read", READ_ERRORS, lambda: (_ for _ in ()).throw(OSError(errno.EIO, "x"))) is None
    )


@pytest.mark.parametrize("item", FORMATS, ids=lambda f: f.kind.name)
@SETTINGS
@given(
    objects=objects_strategy,
    mark=st.integers(0, 16),
    changes=st.lists(corruption_strategy, min_size=1, max_size=2),
)
def test_a_write_open_cuts_nothing_but_a_torn_write_of_ours(
    item: FuzzFormat, objects: list[Obj], mark: int, changes: list[Corruption]
) -> None:
    clean = item.build(objects)
    starts = (*object_starts(clean, item), len(clean))
    since = starts[mark % len(starts)]  # a write of ours began at this object, then a crash
    data, _ = corrupt(clean, item, changes)
    with scratch() as directory:
        path = directory / f"image{item.suffix}"
        path.write_bytes(data)
        crash_mark(path, since)
        index = ObjectIndex()
        torn = item.fmt.scan(MemoryStorage(data), index).torn
        drive = attempt(
            "write open",
            OPEN_ERRORS,
            partial(open_tape_image, str(path), OpenOptions(write=True), kind=item.kind),
        )
        if drive is not None:
            drive.close()
        after = path.read_bytes()
    event("cut a torn write of ours" if len(after) < len(data) else "kept every byte")
    assert after == data[: len(after)]  # a cut, never a change
    if len(after) < len(data):  # only a record torn at or after the mark, cut where it starts
        assert torn
        assert len(after) == index.end >= since
