"""GNU tar, unchanged, on stored volumes: written through one host, read through another.

Host 2 has its own root, spool and cache: all it reads comes from the store.
"""

from __future__ import annotations

import errno
import random
from pathlib import Path

import pytest

from devices.stored.objects import S3Objects
from tests.stored.conftest import Hosts

pytestmark = pytest.mark.e2e


def source_tree(base: Path, name: str, seed: int) -> Path:
    """A small tree: text files and one incompressible file larger than a chunk (64 KiB)."""
    top = base / name
    (top / "sub").mkdir(parents=True)
    for n in range(4):
        (top / f"{name}-{n}.txt").write_text(f"{name} file {n}\n" * (n * 400 + 1))
    (top / "sub" / "random.bin").write_bytes(random.Random(seed).randbytes(200_000))
    (top / "sub" / "empty").write_bytes(b"")
    return top


def files_of(top: Path) -> dict[str, bytes]:
    """Every file under ``top`` by relative path, with its bytes."""
    return {str(p.relative_to(top)): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("volume", ["vol1.tap", "vol1.aws", "vol1.het"])
def test_written_on_one_host_read_back_on_another(
    hosts: Hosts, tmp_path: Path, volume: str
) -> None:
    one, two = hosts["h1"], hosts["h2"]
    source = source_tree(tmp_path, "tree", seed=len(volume))
    one.tar("-cf", f"localhost:vault/{volume}", "-C", str(tmp_path), "tree")
    assert one.spooled() == []  # the close uploaded everything
    assert not (one.served / "vault").exists()  # nothing went to the local root

    listing = two.tar("-tf", f"localhost:vault/{volume}").stdout.split()
    assert sorted(listing) == sorted(
        ["tree/", "tree/sub/"] + [f"tree/{p}" for p in files_of(source)]
    )
    out = tmp_path / "out"
    out.mkdir()
    two.tar("-xf", f"localhost:vault/{volume}", "-C", str(out))
    assert files_of(out / "tree") == files_of(source)
    assert two.spooled() == []  # reading spools nothing


def test_a_damaged_manifest_is_reported_not_read(
    hosts: Hosts, tmp_path: Path, objects: S3Objects
) -> None:
    one, two = hosts["h1"], hosts["h2"]
    source_tree(tmp_path, "tree", seed=2)
    one.tar("-cf", "localhost:vault/bad.tap", "-C", str(tmp_path), "tree")
    key = objects.address.key("bad.tap", "manifest")
    found = objects.get(key)
    assert found is not None
    objects.put(key, found[0][: len(found[0]) // 2])  # cut in half
    done = two.tar("-tf", "localhost:vault/bad.tap", check=False)
    assert done.returncode != 0
    assert "Input/output error" in done.stderr
    pipe = two.pipe()
    code, message = pipe.open("vault/bad.tap", "0 O_RDONLY")
    assert code == errno.EIO
    assert message.startswith(f"s3://tapes/{two.prefix}/bad.tap: "), message
    assert pipe.end() == 0


@pytest.mark.parametrize("damage", ["deleted", "cut"])
def test_a_damaged_chunk_is_an_error_naming_it(
    hosts: Hosts, tmp_path: Path, objects: S3Objects, damage: str
) -> None:
    one, two = hosts["h1"], hosts["h2"]
    source_tree(tmp_path, "tree", seed=7)
    one.tar("-cf", "localhost:vault/chunky.tap", "-C", str(tmp_path), "tree")
    chunks = sorted(objects.list(objects.address.key("chunky.tap", "chunks/")), key=lambda o: o.key)
    assert len(chunks) >= 3  # ~230 KB in 64 KiB chunks
    victim = chunks[1].key
    if damage == "deleted":
        objects.delete(victim)
    else:
        found = objects.get(victim)
        assert found is not None
        objects.put(victim, found[0][:1000])
    reader = two.pipe()
    assert reader.open("vault/chunky.tap/nostream", "0 O_RDONLY") == (0, "0")
    while isinstance(got := reader.read(), bytes):
        pass
    code, message = got
    assert code == errno.EIO, message
    assert victim.rsplit("/", 1)[1][:8] in message, message
    assert reader.end() == 0
