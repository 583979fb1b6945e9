"""rdump/rrestore, mt-gnu and cpio, unchanged, on stored volumes across two hosts."""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import FAKERSH
from tests.e2e.test_dump import filesystem
from tests.stored.conftest import Host, Hosts
from tests.stored.test_tar_stored import files_of, source_tree

pytestmark = pytest.mark.e2e

FILES = {
    "alpha.txt": b"alpha\n" * 3000,
    "beta.bin": random.Random(5).randbytes(300_000),  # several 64 KiB chunks
    "empty": b"",
}
MULTI = "vault/multi.tap/nomount/norewind/nounload"


@pytest.fixture
def dumped_fs(tmp_path: Path) -> Iterator[str]:
    """A loop device with an ext2 file system holding :data:`FILES`."""
    yield from filesystem(tmp_path, "fs", FILES)


def test_rdump_on_one_host_rrestore_on_another(
    hosts: Hosts, tmp_path: Path, dumped_fs: str
) -> None:
    one, two = hosts["h1"], hosts["h2"]
    spec = "localhost:vault/dump.tap"
    one.run("rdump", "-0", "-f", spec, dumped_fs)
    assert one.spooled() == []
    listing = two.run("rrestore", "-t", "-f", spec).stdout
    assert {f"./{name}" for name in FILES} <= set(listing.split())
    out = tmp_path / "restored"
    out.mkdir()
    # restore -x asks which volume to start with and whether to set the owner of "."
    two.run("rrestore", "-x", "-f", spec, cwd=out, stdin="1\nn\n")
    restored = {n: b for n, b in files_of(out).items() if not n.startswith("lost+found")}
    assert restored == FILES


def position(host: Host, device: str) -> tuple[int, int]:
    """File and block number as a client sees them (``vmt status``, see tests/e2e/test_tar)."""
    vmt = str(Path(sys.executable).with_name("vmt"))
    out = host.run(vmt, "--rsh-command", FAKERSH, "-f", f"localhost:{device}", "status").stdout
    found = re.search(r"File number=(-?\d+), block number=(-?\d+)", out)
    assert found, out
    return int(found[1]), int(found[2])


def names(listing: str) -> list[str]:
    """The top directories a tar listing names."""
    return sorted({line.split("/")[0] for line in listing.split()})


def test_mt_positions_a_stored_volume_of_several_tape_files(hosts: Hosts, tmp_path: Path) -> None:
    one, two, three = hosts["h1"], hosts["h2"], hosts["h3"]
    trees = [source_tree(tmp_path, f"t{n}", seed=n) for n in range(3)]
    for n in range(3):
        one.tar("-cf", f"localhost:{MULTI}", "-C", str(tmp_path), f"t{n}")

    # Host 2 finds the position host 1 left: the volume keeps it (norewind, nounload).
    assert position(two, MULTI) == (3, 0)
    two.mt(MULTI, "rewind")
    assert names(two.tar("-tf", f"localhost:{MULTI}").stdout) == ["t0"]
    two.mt(MULTI, "rewind")
    two.mt(MULTI, "fsf", "2")
    assert position(two, MULTI) == (2, 0)
    out = tmp_path / "out"
    out.mkdir()
    two.tar("-xf", f"localhost:{MULTI}", "-C", str(out))
    assert files_of(out / "t2") == files_of(trees[2])
    assert not (out / "t0").exists()

    two.mt(MULTI, "rewind")
    two.mt(MULTI, "eom")
    assert position(two, MULTI) == (3, -1)  # as for a local image: after MTEOM, no block number
    fourth = source_tree(tmp_path, "t3", seed=3)
    two.tar("-cf", f"localhost:{MULTI}", "-C", str(tmp_path), "t3")

    three.mt(MULTI, "rewind")
    three.mt(MULTI, "fsf", "3")
    out = tmp_path / "out3"
    out.mkdir()
    three.tar("-xf", f"localhost:{MULTI}", "-C", str(out))
    assert files_of(out / "t3") == files_of(fourth)


def test_cpio_out_on_one_host_in_on_another(hosts: Hosts, tmp_path: Path) -> None:
    one, two = hosts["h1"], hosts["h2"]
    source = source_tree(tmp_path, "tree", seed=6)
    listed = sorted(str(p.relative_to(source)) for p in source.rglob("*"))
    device = "localhost:vault/arch.tap"
    one.run(
        "cpio", "-o", "-H", "newc", f"--rsh-command={FAKERSH}", "-F", device,
        cwd=source, stdin="\n".join(listed) + "\n",
    )  # fmt: skip
    listing = two.run("cpio", "-t", f"--rsh-command={FAKERSH}", "-F", device).stdout.split()
    assert sorted(listing) == listed
    out = tmp_path / "out"
    out.mkdir()
    two.run("cpio", "-id", f"--rsh-command={FAKERSH}", "-F", device, cwd=out)
    assert files_of(out) == files_of(source)
