"""``vmt synth``: the same spec gives the same bytes, and a wrong spec names its key and line."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rmtd.testing import Data, Pattern, Random, Tape, Tar
from rmtd.vmt import main

SPEC = """\
density = "1600"
capacity = "2M"
early_warning = "64k"
block_size = 0
seed = 42

[[file]]
records = { size = 10240, count = 4 }

[[file]]
records = { size = "1k", total = 3000, content = "pattern", pattern = "ab" }

[[file]]
records = { sizes = [80, 81, 512], seed = 7 }
marks = 0

[[file]]
data = "disk.img"
record_size = 4096

[[file]]
tar = "tree"
record_size = 5120
tar_format = "ustar"

[[file]]
marks = 2
"""

PINNED = {
    ".tap": "a31dd3c2a5582ae804bd147abf57d0c1ea733fe7f3ac80b0f121ce7a59e8cc7f",
    ".aws": "c13b2edf3e0573006d809e9fd41fc7cb159f79da29c6026df6bf9fb81444b907",
    ".het": "b001f360e82684fba152bec5fe3ca11cc072df71b54be6416857b1feab846222",
}
"""SHA-256 of the image SPEC gives, per format: a change here changes every user's tapes.

HET's zlib blocks are zlib 1.2.13's (Debian 12) at the format's default level."""


def vmt(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def inputs(where: Path, spec: str = SPEC) -> Path:
    """The spec and the files it names, with the same bytes every run."""
    (where / "disk.img").write_bytes(bytes(range(256)) * 40 + b"tail")
    (where / "tree" / "sub").mkdir(parents=True)
    (where / "tree" / "README").write_text("a synthetic tape\n")
    (where / "tree" / "sub" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(where / "tree" / "sub" / "run.sh", 0o755)
    (where / "spec.toml").write_text(spec)
    return where / "spec.toml"


def api_tape(where: Path) -> Tape:
    """SPEC, written in code."""
    tape = Tape(density="1600", capacity=2 << 20, early_warning=64 << 10, seed=42)
    tape.file(Random(size=10240, count=4))
    tape.file(Pattern("ab", size=1024, total=3000))
    tape.file(Random(sizes=[80, 81, 512], seed=7), marks=0)
    tape.file(Data(str(where / "disk.img"), record_size=4096))
    tape.file(Tar(str(where / "tree"), record_size=5120, format="ustar"))
    return tape.file(marks=2)


@pytest.mark.parametrize("suffix", sorted(PINNED))
def test_a_spec_always_gives_the_same_bytes(tmp_path: Path, suffix: str) -> None:
    spec = inputs(tmp_path)
    image = tmp_path / f"vol{suffix}"
    done = vmt("synth", str(spec), str(image))
    assert done.exit_code == 0, done.output
    assert f"vol{suffix}: 6 tape files, 14 records, 59997 bytes from " in done.output
    assert hashlib.sha256(image.read_bytes()).hexdigest() == PINNED[suffix]
    verified = vmt("verify", str(image))  # the image and its side files as rmtd writes them
    assert verified.exit_code == 0, verified.output
    by_api = tmp_path / f"api{suffix}"
    api_tape(tmp_path).write(str(by_api))
    assert by_api.read_bytes() == image.read_bytes()


def test_the_tar_reads_back_with_gnu_tar_and_bad_records_show_in_ls(tmp_path: Path) -> None:
    spec = inputs(tmp_path, SPEC.replace("record_size = 4096", "record_size = 4096\nbad = [1]"))
    image = tmp_path / "vol.tap"
    assert vmt("synth", str(spec), str(image)).exit_code == 0
    listing = vmt("ls", str(image)).output.splitlines()
    assert listing[2] == (
        "File 2: records=6, bytes=10917, record size min=80, max=4096, first object=9, "
        "bad records=1"
    )
    out = tmp_path / "file3.tar"
    assert vmt("read", str(image), "--file", "3", "-o", str(out)).exit_code == 0
    assert out.stat().st_size == 5120  # one record of tar -b 10
    tar = shutil.which("tar")
    assert tar is not None
    listed = subprocess.run(
        [tar, "-tvf", str(out)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert [line.split()[0:2] + line.split()[3:] for line in listed] == [
        ["drwxr-xr-x", "root/root", "1970-01-01", "00:00", "tree/"],
        ["-rw-r--r--", "root/root", "1970-01-01", "00:00", "tree/README"],
        ["drwxr-xr-x", "root/root", "1970-01-01", "00:00", "tree/sub/"],
        ["-rwxr-xr-x", "root/root", "1970-01-01", "00:00", "tree/sub/run.sh"],
    ]


def test_capacity_and_early_warning_are_recorded(tmp_path: Path) -> None:
    spec = inputs(tmp_path)
    image = tmp_path / "vol.tap"
    vmt("synth", str(spec), str(image))
    saved = (tmp_path / "vol.tap.rmtd").read_text()
    assert '"capacity": 2097152' in saved and '"early_warning": 65536' in saved
    assert '"density": 2' in saved
    assert "Density code 0x2" in vmt("-f", str(image), "status").output


FILES = """\
seed = 1
[[file]]
records = { size = 100, count = 2 }
[[file]]
"""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('colour = "red"\n', "line 1: colour: unknown key (known: format, density"),
        (FILES + "foo = 1\n", "line 5: file.foo #2: unknown key (known: records, tar"),
        (
            FILES + "records = { size = 1, cnt = 2 }\n",
            "line 5: file.records.cnt #2: unknown key (known: size, count",
        ),
        ('seed = "x"\n', "line 1: seed: expected an integer, got a string ('x')"),
        ('capacity = "lots"\n', "line 1: capacity: 'lots' is not a size such as 4096, 64k"),
        ("block_size = true\n", "line 1: block_size: expected a size (an integer, or a string"),
        ('density = "9999"\n', "line 1: density: density '9999' is neither a bpi value"),
        ('format = "tar"\n', "line 1: format: 'tar' is not one of simh, aws, het"),
        ('capacity = "1k"\nearly_warning = "1k"\n', "line 2: early_warning: 1024 is not smaller"),
        ("file = 3\n", "line 1: file: expected an array of tables ([[file]]), got an integer"),
        ("[[file\n", "spec.toml: not valid TOML: "),
        (FILES + 'data = "none.img"\n', "line 5: file.data #2: none.img: not an existing file"),
        (FILES + 'tar = "none"\n', "line 5: file.tar #2: none: not an existing directory"),
        (FILES + 'data = "disk.img"\nrecord_size = "1x"\n', "line 6: file.record_size #2: '1x'"),
        (FILES + 'tar = "tree"\nrecord_size = 1000\n', "line 6: file.record_size #2: 1000 is not"),
        (FILES + 'tar = "tree"\ntar_format = "pax"\n', "line 6: file.tar_format #2: 'pax' is not"),
        (
            FILES + 'records = { size = 1, count = 1 }\ntar = "tree"\n',
            "line 6: file.tar #2: a [[file]] holds one of records, tar, data, not records and tar",
        ),
        (
            FILES + "records = { size = 1, count = 1 }\nrecord_size = 512\n",
            "line 6: file.record_size #2: only with tar or data",
        ),
        (
            FILES + 'records = { size = 1, count = 1, content = "zeros" }\n',
            "line 5: file.records.content #2: 'zeros' is not one of 'random', 'pattern'",
        ),
        (
            FILES + 'records = { size = 1, count = 1, pattern = "ab" }\n',
            'line 5: file.records.pattern #2: only with content = "pattern"',
        ),
        (
            FILES + "records = { size = 1, count = 1, total = 5 }\n",
            "line 5: file.records.count #2: give either count or total with size",
        ),
        (
            FILES + "records = { sizes = [1, 0] }\n",
            "line 5: file.records.sizes #2: 0 is not a whole number >= 1",
        ),
        (FILES + 'bad = "all"\n', "line 5: file.bad #2: expected true or a list of record"),
        (FILES + "marks = -1\n", "line 5: file.marks #2: expected an integer >= 0"),
        (
            FILES + "records = { size = 10, count = 2 }\nbad = [2]\n",
            "line 6: file.bad #2: bad record 2, but the entry has 2 records",
        ),
        (
            'format = "aws"\n' + FILES + "records = { size = 10, count = 2 }\nbad = [1]\n",
            "line 7: file.bad #2: record 1 is marked bad, but aws images have no bad-data mark",
        ),
        (
            'format = "aws"\n' + FILES + 'records = { size = "3M", count = 1 }\n',
            "line 6: file.records #2: record 0 holds 3145728 bytes, more than aws images hold",
        ),
        (
            "capacity = 200\n" + FILES,
            "line 1: capacity: 200 bytes are too few: record 1 of entry 1 ends at byte 216",
        ),
    ],
)
def test_a_wrong_spec_names_its_line_and_key_and_writes_nothing(
    tmp_path: Path, spec: str, message: str
) -> None:
    path = inputs(tmp_path, spec)
    image = tmp_path / ("vol.aws" if 'format = "aws"' in spec else "vol.tap")
    done = vmt("synth", str(path), str(image))
    assert done.exit_code == 1
    assert done.output.startswith(f"vmt: {path}")
    assert message in done.output
    assert len(done.output.splitlines()) == 1
    assert not list(tmp_path.glob("vol.*"))


def test_the_format_comes_from_the_spec_to_or_the_name(tmp_path: Path) -> None:
    spec = inputs(tmp_path, 'format = "het"\n' + FILES)
    assert vmt("synth", str(spec), str(tmp_path / "a.img")).exit_code == 0
    mismatch = vmt("synth", str(spec), str(tmp_path / "a.tap"))
    assert mismatch.exit_code == 1
    assert "line 1: format: " in mismatch.output and "its name says a SIMH tape image, not het" in (
        mismatch.output
    )
    assert vmt("synth", "--to", "het", str(spec), str(tmp_path / "b.het")).exit_code == 0
    assert (tmp_path / "a.img").read_bytes() == (tmp_path / "b.het").read_bytes()
    against = vmt("synth", "--to", "aws", str(spec), str(tmp_path / "c.aws"))
    assert against.exit_code == 1 and "format: 'het', but --to says 'aws'" in against.output
    (tmp_path / "p").mkdir()
    plain = inputs(tmp_path / "p", FILES)
    usage = vmt("synth", "--to", "aws", str(plain), str(tmp_path / "d.tap"))
    assert usage.exit_code == 2 and "its name says a SIMH tape image, not aws" in usage.output
    noname = vmt("synth", str(plain), str(tmp_path / "d.img"))
    assert noname.exit_code == 1 and r"name it *.tap, *.aws or *.het" in noname.output


def test_an_existing_image_is_replaced_only_with_force(tmp_path: Path) -> None:
    spec = inputs(tmp_path, FILES)
    image = tmp_path / "vol.tap"
    image.write_bytes(b"")
    done = vmt("synth", str(spec), str(image))
    assert done.exit_code == 1 and "vol.tap: exists; --force replaces an image" in done.output
    assert image.read_bytes() == b""
    assert vmt("synth", "--force", str(spec), str(image)).exit_code == 0
    assert vmt("ls", str(image)).output.startswith("File 0: records=2")
    notes = tmp_path / "notes.tap"
    notes.write_text("some text that is no tape\n")
    refused = vmt("synth", "--force", str(spec), str(notes))
    assert refused.exit_code == 1 and "not replaced" in refused.output
    assert notes.read_text() == "some text that is no tape\n"


def test_a_missing_spec_is_one_line(tmp_path: Path) -> None:
    done = vmt("synth", str(tmp_path / "none.toml"), str(tmp_path / "vol.tap"))
    assert done.exit_code == 1
    assert (
        done.output
        == f"vmt: {tmp_path / 'none.toml'}: cannot read the spec: No such file or directory\n"
    )


def test_the_readme_spec_and_its_python_give_the_same_tape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("\n## vmt\n", 1)[1].split("\n## ", 1)[0]
    (spec,) = re.findall(r"```toml\n(.*?)```", section, re.S)
    found = re.search(r"The same tape from Python.*?```python\n(.*?)```", section, re.S)
    assert found, "the README shows the spec's Python"
    code = found.group(1)
    (tmp_path / "some" / "dir").mkdir(parents=True)
    (tmp_path / "some" / "dir" / "file").write_text("x\n")
    (tmp_path / "disk.img").write_bytes(bytes(300_000))
    (tmp_path / "spec.toml").write_text(spec)
    done = vmt("synth", str(tmp_path / "spec.toml"), str(tmp_path / "spec.tap"))
    assert done.exit_code == 0, done.output
    monkeypatch.chdir(tmp_path)
    exec(code, {})  # writes vol1.tap
    assert (tmp_path / "vol1.tap").read_bytes() == (tmp_path / "spec.tap").read_bytes()
    assert "bad records=1" in vmt("ls", "vol1.tap").output


def test_bad_true_marks_every_record_of_the_file(tmp_path: Path) -> None:
    spec = inputs(tmp_path, FILES + "records = { size = 10, count = 3 }\nbad = true\n")
    assert vmt("synth", str(spec), str(tmp_path / "vol.tap")).exit_code == 0
    listing = vmt("ls", str(tmp_path / "vol.tap")).output.splitlines()
    assert "bad records" not in listing[0]
    assert listing[1].endswith("bad records=3")


def test_ctrl_c_leaves_no_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = inputs(tmp_path, FILES)
    written: list[int] = []

    def interrupted(_image: object, data: bytes | memoryview, bad: bool = False) -> None:
        written.append(len(data))
        raise KeyboardInterrupt

    monkeypatch.setattr("devices.formats.image.TapeImage.append_record", interrupted)
    done = CliRunner().invoke(main, ["synth", str(spec), str(tmp_path / "vol.tap")])
    assert done.exit_code == 130
    assert written == [100]  # it was under way
    assert done.output == f"vmt: {tmp_path / 'vol.tap'}: interrupted; not written\n"
    assert not list(tmp_path.glob("vol.tap*"))
