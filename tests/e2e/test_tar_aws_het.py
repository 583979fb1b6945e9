"""GNU tar, unchanged, writing and reading a multi-file backup on AWS and HET images via rmtd."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.chunk_codec import decode
from tests.e2e.conftest import FAKERSH, Run

pytestmark = pytest.mark.e2e


def tree(base: Path, name: str, files: int) -> Path:
    top = base / name
    top.mkdir()
    for n in range(files):
        (top / f"{name}-{n}.txt").write_text(f"{name} file {n}\n" * (n * 700 + 1))
    return top


@pytest.mark.parametrize("image", ["vol.aws", "vol.het"])
def test_a_two_file_backup_and_back(run: Run, served: Path, tmp_path: Path, image: str) -> None:
    spec = f"localhost:{image}/nomount/norewind/nounload"

    def tar(*args: str) -> str:
        return run("tar", f"--rsh-command={FAKERSH}", "--rmt-command=rmtd", *args).stdout

    def mt(*args: str) -> None:
        run("mt-gnu", f"--rsh-command={FAKERSH}", "-f", spec, *args)

    first, second = tree(tmp_path, "first", 4), tree(tmp_path, "second", 3)
    tar("-cf", spec, "-C", str(tmp_path), "first")
    tar("-b", "128", "-cf", spec, "-C", str(tmp_path), "second")  # 64 KiB records: two chunks
    mt("rewind")
    listing = tar("-tf", spec)
    assert sorted(listing.split()) == ["first/"] + [f"first/first-{n}.txt" for n in range(4)]
    mt("fsf", "1")
    out = tmp_path / "out"
    out.mkdir()
    tar("-b", "128", "-xf", spec, "-C", str(out))
    for n in range(3):
        name = f"second-{n}.txt"
        assert (out / "second" / name).read_text() == (second / name).read_text()
    assert not (out / "first").exists() and first.exists()

    # The image is what Hercules' layout says: 10 KiB records, a mark, 64 KiB records, a mark.
    objects = decode((served / image).read_bytes())
    sizes = [len(o) if o is not None else None for o in objects]
    marks = [i for i, s in enumerate(sizes) if s is None]
    assert len(marks) == 2 and marks[1] == len(sizes) - 1
    assert set(sizes[: marks[0]]) == {10240} and set(sizes[marks[0] + 1 : -1]) == {65536}
    done = subprocess.run(
        ["hetmap", "-t", str(served / image)], capture_output=True, text=True, check=False
    )
    assert done.stdout.startswith(f"File 1: Blocks={marks[0]}, block size min=10240"), done.stdout
