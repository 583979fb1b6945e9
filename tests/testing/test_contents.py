"""The contents of synthetic records: lengths as described, bytes the same on every run."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmtd.testing import ContentError, Data, Pattern, Random, Tar
from rmtd.testing.contents import record_sizes


def records(content: Random | Pattern | Data | Tar, seed: str = "0:1") -> list[bytes]:
    with content.prepare(seed) as ready:
        chunks = list(ready)
        assert [len(c) for c in chunks] == ready.sizes
        return chunks


def test_sizes_by_count_total_or_list() -> None:
    assert record_sizes(size=512, count=3) == [512, 512, 512]
    assert record_sizes(size=512, total=1300) == [512, 512, 276]
    assert record_sizes(size=512, total=1024) == [512, 512]
    assert record_sizes(sizes=[1, 80, 7]) == [1, 80, 7]


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({}, "size"),
        ({"size": 512}, "count"),
        ({"size": 512, "count": 2, "total": 1024}, "count"),
        ({"size": 0, "count": 1}, "size"),
        ({"size": 512, "count": 0}, "count"),
        ({"size": 512, "total": -1}, "total"),
        ({"sizes": []}, "sizes"),
        ({"sizes": [10, 0]}, "sizes"),
        ({"sizes": [10], "size": 10}, "sizes"),
    ],
)
def test_wrong_sizes_name_the_argument(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(ContentError) as caught:
        Random(**kwargs)  # type: ignore[arg-type]
    assert caught.value.key == key


def test_random_bytes_follow_the_seed() -> None:
    a = records(Random(size=100, count=3), "42:1")
    assert records(Random(size=100, count=3), "42:1") == a
    assert records(Random(size=100, count=3), "42:2") != a
    own = records(Random(size=100, count=3, seed=7), "42:1")
    assert own == records(Random(size=100, count=3, seed=7), "0:9")  # its own seed wins
    assert own != a
    assert len(set(a)) == 3  # not the same record repeated


def test_a_pattern_runs_on_across_records() -> None:
    assert records(Pattern("abc", sizes=[2, 2, 5])) == [b"ab", b"ca", b"bcabc"]
    assert records(Pattern(b"\xff", size=4, total=6)) == [b"\xff" * 4, b"\xff" * 2]
    with pytest.raises(ContentError, match="pattern"):
        Pattern("", size=1, count=1)


@given(
    data=st.binary(max_size=3000),
    size=st.integers(min_value=1, max_value=700),
)
def test_data_is_cut_into_records_and_comes_back_whole(data: bytes, size: int) -> None:
    chunks = records(Data(data, record_size=size))
    assert b"".join(chunks) == data
    assert all(len(c) == size for c in chunks[:-1])
    assert not chunks or 0 < len(chunks[-1]) <= size


def test_a_file_is_read_and_closed(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    path.write_bytes(bytes(range(256)) * 10)
    assert b"".join(records(Data(str(path), record_size=1000))) == path.read_bytes()
    with pytest.raises(FileNotFoundError):
        Data(str(tmp_path / "missing"), 512).prepare("")


def tree(root: Path, mode: int, mtime: int) -> Path:
    (root / "tree" / "sub").mkdir(parents=True)
    (root / "tree" / "b.txt").write_text("bee\n")
    (root / "tree" / "a.sh").write_text("#!/bin/sh\n")
    (root / "tree" / "sub" / "c").write_bytes(b"\0" * 700)
    (root / "tree" / "link").symlink_to("b.txt")
    os.chmod(root / "tree" / "a.sh", 0o700)
    os.chmod(root / "tree" / "b.txt", mode)
    for path in (root / "tree").rglob("*"):
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return root / "tree"


def test_a_tar_shows_nothing_of_the_machine_or_the_moment(tmp_path: Path) -> None:
    one = records(Tar(tree(tmp_path / "1", 0o600, 1_000_000_000)))
    two = records(Tar(tree(tmp_path / "2", 0o664, 1_700_000_000)))
    assert one == two
    assert all(len(r) == 10240 for r in one)
    with tarfile.open(fileobj=io.BytesIO(b"".join(one))) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [
            "tree",
            "tree/a.sh",
            "tree/b.txt",
            "tree/link",
            "tree/sub",
            "tree/sub/c",
        ]
        assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {
            (0, 0, 0, "root", "root")
        }
        assert [oct(m.mode) for m in members] == [
            "0o755",
            "0o755",
            "0o644",
            "0o777",
            "0o755",
            "0o644",
        ]
        assert members[3].issym() and members[3].linkname == "b.txt"
        assert tar.extractfile("tree/sub/c").read() == b"\0" * 700  # type: ignore[union-attr]


def test_a_tar_fills_whole_records_of_its_size(tmp_path: Path) -> None:
    top = tree(tmp_path, 0o644, 0)
    small = records(Tar(top, record_size=1024, format="ustar"))
    assert all(len(r) == 1024 for r in small)
    assert small[0][257:265] == b"ustar\x0000"  # POSIX ustar's magic and version, not GNU's
    with tarfile.open(fileobj=io.BytesIO(b"".join(small))) as tar:
        assert len(tar.getnames()) == 6
    assert records(Tar(top))[0][257:265] == b"ustar  \x00"  # GNU's
    with pytest.raises(ContentError, match="multiple of 512"):
        Tar(top, record_size=1000)
    with pytest.raises(ContentError) as caught:
        Tar(top, format="pax")
    assert caught.value.key == "format"


def test_a_tar_of_what_is_no_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such directory"):
        Tar(tmp_path / "none").prepare("")
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        Tar(tmp_path / "f").prepare("")
    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "d" / "pipe")
    with pytest.raises(ContentError, match="pipe: neither a file, a directory nor a symlink"):
        Tar(tmp_path / "d").prepare("")
