"""``vmt ls``, ``read``, ``write``, ``protect`` and ``convert`` on stored volumes (s3:// URLs).

Against a real store (SeaweedFS). A stored volume must read back as the local image it was
converted from, record for record; a conversion never writes over a volume and never leaves
part of one in the store; commands that work on local files only say so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devices.drive import VirtualTapeDrive
from devices.formats.image import TapeImage
from devices.interface import OpenOptions
from devices.kinds import DeviceKind
from devices.stored.volume import Store
from rmtd.testing.seaweed import SeaweedServer
from tests.simh_codec import CLASS_BAD, TAPE_MARK, record
from tests.vmt_stored.conftest import keys, store, vmt

BIG = [bytes([n]) * 40000 for n in range(5)]
"""Five 40000-byte records: with 64k chunks, a volume of several chunks."""


def tape(path: Path, *objects: bytes) -> Path:
    path.write_bytes(b"".join(objects))
    return path


def sample(tmp_path: Path) -> Path:
    """Two files of several chunks' worth, an empty file, and records after the last mark."""
    return tape(
        tmp_path / "a.tap",
        *(record(r) for r in BIG[:3]),
        TAPE_MARK,
        *(record(r) for r in BIG[3:]),
        TAPE_MARK,
        TAPE_MARK,
        record(b"tail"),
    )


def listing(image: str, endpoint: str | None = None) -> list[dict[str, object]]:
    extra = ["--endpoint", endpoint] if endpoint else []
    done = vmt("ls", "--json", image, *extra)
    assert done.exit_code == 0, done.output
    files: list[dict[str, object]] = json.loads(done.stdout)["files"]
    return files


def test_local_to_stored_and_back_is_the_same_tape(
    s3: SeaweedServer, prefix: str, tmp_path: Path
) -> None:
    source = sample(tmp_path)
    url = f"{prefix}/site/vol1.tap"  # a volume name with a slash: prefix/site, volume vol1.tap
    done = vmt("convert", str(source), url, "--endpoint", s3.endpoint, "--chunk-size", "64k")
    assert done.exit_code == 0, done.output
    assert f"{url}: 4 tape files, 6 records, 200004 bytes from {source}" in done.output
    chunks = [k for k in keys(s3, url) if "/chunks/" in k]
    assert len(chunks) >= 3  # 200 kB in 64k chunks
    assert listing(url, s3.endpoint) == listing(str(source))
    back = tmp_path / "back.tap"
    done = vmt("convert", url, str(back), "--endpoint", s3.endpoint)
    assert done.exit_code == 0, done.output
    assert back.read_bytes() == source.read_bytes()


def test_read_copies_one_tape_file_of_a_stored_volume(
    s3: SeaweedServer, prefix: str, tmp_path: Path
) -> None:
    url = f"{prefix}/vol1.tap"
    assert vmt("convert", str(sample(tmp_path)), url, "--endpoint", s3.endpoint).exit_code == 0
    out = tmp_path / "file1"
    cache = tmp_path / "cache" / "rmtd" / "chunks"  # $XDG_CACHE_HOME/rmtd/chunks
    assert not cache.exists() or not os.listdir(cache)
    done = vmt("read", url, "--file", "1", "-o", str(out), "--endpoint", s3.endpoint)
    assert done.exit_code == 0, done.output
    assert out.read_bytes() == BIG[3] + BIG[4]
    assert os.listdir(cache)  # the chunks read are cached where XDG says
    # --region is passed on to the client (SeaweedFS takes any region in a signature).
    done = vmt(
        "read",
        url,
        "--file",
        "1",
        "-o",
        str(out),
        "--endpoint",
        s3.endpoint,
        "--region",
        "eu-west-1",
    )
    assert done.exit_code == 0, done.output
    done = vmt("read", url, "--file", "9", "--endpoint", s3.endpoint)
    assert done.exit_code == 1
    assert "no tape file 9 (the image holds 4)" in done.output


def test_stored_to_stored_in_another_format(s3: SeaweedServer, prefix: str, tmp_path: Path) -> None:
    source = sample(tmp_path)
    assert vmt("convert", str(source), f"{prefix}/a.tap", "--endpoint", s3.endpoint).exit_code == 0
    done = vmt("convert", f"{prefix}/a.tap", f"{prefix}/b.aws", "--endpoint", s3.endpoint)
    assert done.exit_code == 0, done.output
    assert listing(f"{prefix}/b.aws", s3.endpoint) == listing(str(source))


def test_the_endpoint_may_come_from_aws_endpoint_url(
    s3: SeaweedServer, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    url = f"{prefix}/vol1.tap"
    assert vmt("convert", str(sample(tmp_path)), url).exit_code == 0
    assert listing(url) == listing(str(tmp_path / "a.tap"))


def test_an_existing_stored_volume_is_never_converted_over(
    s3: SeaweedServer, prefix: str, tmp_path: Path
) -> None:
    url = f"{prefix}/vol1.tap"
    assert vmt("convert", str(sample(tmp_path)), url, "--endpoint", s3.endpoint).exit_code == 0
    before = keys(s3, url)
    other = tape(tmp_path / "b.tap", record(b"other"), TAPE_MARK)
    done = vmt("convert", str(other), url, "--endpoint", s3.endpoint)
    assert done.exit_code == 1
    assert done.output == f"vmt: {url}: exists; vmt convert makes new volumes only\n"
    assert keys(s3, url) == before
    assert listing(url, s3.endpoint) == listing(str(tmp_path / "a.tap"))


def test_a_volume_created_meanwhile_is_not_written_nor_removed(
    s3: SeaweedServer, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another host creates the volume between vmt's check and its lease: the check under the
    # lease sees it; vmt writes nothing into it and removes nothing of it.
    url = f"{prefix}/vol1.tap"
    other = tape(tmp_path / "b.tap", record(b"other"), TAPE_MARK)
    real_open = Store.open_volume

    def open_after_another_host(
        self: Store, volume: str, options: OpenOptions, kind: DeviceKind, label: str
    ) -> VirtualTapeDrive:
        monkeypatch.setattr(Store, "open_volume", real_open)
        assert vmt("convert", str(other), url, "--endpoint", s3.endpoint).exit_code == 0
        return real_open(self, volume, options, kind, label)

    monkeypatch.setattr(Store, "open_volume", open_after_another_host)
    done = vmt("convert", str(sample(tmp_path)), url, "--endpoint", s3.endpoint)
    assert done.exit_code == 1
    assert "exists; vmt convert makes new volumes only" in done.output
    assert listing(url, s3.endpoint) == listing(str(other))


def test_a_failed_conversion_leaves_nothing_in_the_store(
    s3: SeaweedServer, prefix: str, tmp_path: Path
) -> None:
    # Two files (committed: a filemark commits chunks and a manifest), then a record marked
    # bad, which an AWS volume cannot hold: the conversion stops, and removes what it stored.
    source = tape(
        tmp_path / "a.tap",
        *(record(r) for r in BIG),
        TAPE_MARK,
        record(b"x"),
        TAPE_MARK,
        record(b"bad", cls=CLASS_BAD),
    )
    url = f"{prefix}/vol1.aws"
    done = vmt("convert", str(source), url, "--endpoint", s3.endpoint, "--chunk-size", "64k")
    assert done.exit_code == 1
    assert done.output == (
        f"vmt: {url}: record 8 is marked bad, and a aws image has no such mark; nothing converted\n"
    )
    assert keys(s3, prefix) == []
    stored, volume = store(url, s3.endpoint)
    assert not stored.spool_of(volume).exists()


def test_an_interrupted_conversion_leaves_nothing_in_the_store(
    s3: SeaweedServer, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tape(
        tmp_path / "a.tap", *(record(r) for r in BIG), TAPE_MARK, *(record(r) for r in BIG)
    )
    appended = 0
    real_append = TapeImage.append_record

    def append_then_ctrl_c(self: TapeImage, data: memoryview, bad: bool = False) -> None:
        nonlocal appended
        appended += 1
        if appended == 8:  # after a filemark: a manifest and chunks are in the store
            raise KeyboardInterrupt
        real_append(self, data, bad)

    monkeypatch.setattr(TapeImage, "append_record", append_then_ctrl_c)
    url = f"{prefix}/vol1.tap"
    done = vmt("convert", str(source), url, "--endpoint", s3.endpoint, "--chunk-size", "64k")
    assert done.exit_code == 130
    assert done.output == f"vmt: {url}: interrupted; removed\n"
    assert keys(s3, prefix) == []


def test_write_and_protect_a_stored_volume(s3: SeaweedServer, prefix: str, tmp_path: Path) -> None:
    url = f"{prefix}/vol1.tap"
    data = tmp_path / "data"
    data.write_bytes(b"12345" * 1000)
    done = vmt("write", url, str(data), "--endpoint", s3.endpoint)  # creates the volume
    assert done.exit_code == 0, done.output
    assert vmt("write", url, str(data), "--endpoint", s3.endpoint).exit_code == 0
    assert [f["bytes"] for f in listing(url, s3.endpoint)] == [5000, 5000]
    assert vmt("protect", url, "--endpoint", s3.endpoint).exit_code == 0
    done = vmt("write", url, str(data), "--endpoint", s3.endpoint)
    assert done.exit_code == 1
    assert "write-protected" in done.output
    assert vmt("protect", "--off", url, "--endpoint", s3.endpoint).exit_code == 0
    assert vmt("write", url, str(data), "--endpoint", s3.endpoint).exit_code == 0


def test_a_volume_in_use_is_busy_naming_its_holder(
    s3: SeaweedServer, prefix: str, tmp_path: Path
) -> None:
    url = f"{prefix}/vol1.tap"
    assert vmt("convert", str(sample(tmp_path)), url, "--endpoint", s3.endpoint).exit_code == 0
    stored, volume = store(url, s3.endpoint)
    drive = stored.open_volume(volume, OpenOptions(), DeviceKind.SIMH, "vault/vol1.tap")
    try:
        done = vmt("ls", url, "--endpoint", s3.endpoint)
    finally:
        drive.close()
    assert done.exit_code == 1
    assert done.output.startswith(f"vmt: {url}: in use by ")
    assert done.output.count("\n") == 1
    assert vmt("ls", url, "--endpoint", s3.endpoint).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "{url}"], "{url}: vmt verify works on local images only"),
        (["repair", "{url}"], "{url}: vmt repair works on local images only"),
        (["new", "{url}"], "{url}: vmt new works on local images only"),
        (["synth", "{spec}", "{url}"], "{url}: vmt synth works on local images only"),
        (["-f", "{url}", "status"], "{url}: vmt status works on local images only"),
        (["ls", "{prefix}/"], "its name says a plain file; stored volumes are tape images"),
        (["ls", "{prefix}/vol1.txt"], "stored volumes are tape images named"),
        (["ls", "{url}"], "{url}: no such volume in the store"),
        (["read", "--file", "0", "{url}"], "{url}: no such volume in the store"),
        (["protect", "{url}"], "{url}: no such volume in the store"),
    ],
)
def test_what_cannot_be_done_on_a_stored_volume_is_one_line(
    s3: SeaweedServer, prefix: str, tmp_path: Path, args: list[str], message: str
) -> None:
    url = f"{prefix}/vol1.tap"
    spec = tmp_path / "spec.toml"
    spec.write_text("[[file]]\nrecords = { size = 10, count = 1 }\n")
    words = [a.format(url=url, prefix=prefix, spec=spec) for a in args]
    if args[0] in ("ls", "read", "protect"):
        words += ["--endpoint", s3.endpoint]
    done = vmt(*words)
    assert done.exit_code == 1, done.output
    assert message.format(url=url) in done.output
    assert done.output.count("\n") == 1
    assert keys(s3, prefix) == []  # not even a lease was written


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """vmt as a user runs it."""
    vmt_bin = os.path.join(os.path.dirname(sys.executable), "vmt")
    return subprocess.run(
        [vmt_bin, *args], check=False, env=env, capture_output=True, text=True, timeout=120
    )


def test_store_errors_are_one_line_without_traceback(
    s3: SeaweedServer, prefix: str, tmp_path: Path
) -> None:
    env = dict(os.environ)
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    url = f"s3://{bucket}/site/vol1.tap"
    for args in (["ls", url], ["write", url, "/etc/hostname"], ["convert", "/dev/null", url]):
        if args[0] == "convert":
            args[1] = str(sample(tmp_path))
        done = run(*args, "--endpoint", s3.endpoint, env=env)
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr == f"vmt: s3://{bucket}/site/vol1.tap: s3://{bucket}: no such bucket\n"
    nothing = "http://127.0.0.1:9"  # the discard port: nobody answers there
    done = run("ls", f"{prefix}/vol1.tap", "--endpoint", nothing, env=env)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(f"vmt: {prefix}/vol1.tap: ")
    assert "Could not connect to the endpoint URL" in done.stderr
    assert done.stderr.count("\n") == 1
    done = run("ls", f"{prefix}/vol1.tap", "--endpoint", "localhost:8333", env=env)
    assert done.returncode == 2
    assert "expected http://host:port" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_damaged_manifest_and_a_missing_chunk_are_one_line_errors(
    s3: SeaweedServer, prefix: str, tmp_path: Path
) -> None:
    url = f"{prefix}/vol1.tap"
    assert vmt("convert", str(sample(tmp_path)), url, "--endpoint", s3.endpoint).exit_code == 0
    stored, volume = store(url, s3.endpoint)
    key = stored.volume_key(volume)
    [first, *_] = [k for k in keys(s3, url) if "/chunks/" in k]
    stored.objects.delete(first)
    out = tmp_path / "out"
    done = vmt("read", url, "--file", "0", "-o", str(out), "--endpoint", s3.endpoint)
    assert done.exit_code == 1
    assert done.output.startswith(f"vmt: {url}: damaged at offset 0: chunk ")  # not the output's
    assert "is not in the store" in done.output
    assert done.output.count("\n") == 1
    found = stored.objects.get(f"{key}/manifest")
    assert found is not None
    stored.objects.put(f"{key}/manifest", found[0][:-4])
    for args in (["ls", url], ["convert", url, str(tmp_path / "b.tap")]):
        done = vmt(*args, "--endpoint", s3.endpoint)
        assert done.exit_code == 1
        assert done.output.startswith(f"vmt: {url}: damaged manifest (")  # its CRC
        assert done.output.count("\n") == 1
    assert not (tmp_path / "b.tap").exists()
