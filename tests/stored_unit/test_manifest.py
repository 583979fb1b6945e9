"""The manifest's encoding: a round trip, and damage refused rather than misread."""

from __future__ import annotations

import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.formats.index import ObjectIndex
from devices.state import DriveState, VolumeInfo
from devices.stored.manifest import MAGIC, Chunk, Manifest, ManifestError

SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def indexes(draw: st.DrawFn) -> ObjectIndex:
    """An index of records (good and bad) and filemarks laid end to end, gaps allowed."""
    index = ObjectIndex()
    at = draw(st.integers(0, 100))
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["record", "bad", "mark"]))
        if kind == "mark":
            index.add_filemark(at)
            at += 4
        else:
            length = draw(st.integers(0, 1 << 20))
            index.add_record(at, length, bad=kind == "bad")
            at += 8 + length + draw(st.integers(0, 1))
    index.end = at
    return index


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    """A manifest whose chunks hold at least the index's bytes."""
    index = draw(indexes())
    lengths = draw(st.lists(st.integers(1, 1 << 22), max_size=6))
    if sum(lengths) < index.end:
        lengths.append(index.end - sum(lengths))
    chunks, start = [], 0
    for length in lengths:
        chunks.append(
            Chunk(draw(st.text("0123456789abcdef", min_size=1, max_size=32)), start, length)
        )
        start += length
    volume = VolumeInfo(
        density=draw(st.integers(0, 255)),
        capacity=draw(st.integers(0, 1 << 40)),
        early_warning=draw(st.integers(0, 1 << 20)),
        write_protected=draw(st.booleans()),
        incomplete=sorted(draw(st.sets(st.integers(0, 1000), max_size=4))),
    )
    drive = DriveState(
        position=draw(st.integers(0, 1 << 40)),
        fileno=draw(st.integers(-1, 1 << 20)),
        blkno=draw(st.integers(-1, 1 << 20)),
        loaded=draw(st.booleans()),
        block_size=draw(st.integers(0, 1 << 16)),
        compression=draw(st.booleans()),
        at_eod=draw(st.booleans()),
    )
    return Manifest(
        format=draw(st.sampled_from(["simh", "aws", "het"])),
        generation=draw(st.integers(0, 1 << 40)),
        chunks=chunks,
        index=index,
        volume=volume,
        drive=drive,
        token=draw(st.text("0123456789abcdef", max_size=32)),
    )


def facts(manifest: Manifest) -> tuple[object, ...]:
    """Everything a manifest says, comparable (ObjectIndex has no ``==``)."""
    index = manifest.index
    return (
        manifest.format,
        manifest.generation,
        manifest.chunks,
        (list(index.offsets), list(index.lengths), list(index.marks), index.end),
        manifest.volume,
        manifest.drive,
        manifest.token,
    )


@SETTINGS
@given(manifests())
def test_round_trip(manifest: Manifest) -> None:
    decoded = Manifest.decode(manifest.encode())
    assert facts(decoded) == facts(manifest)
    assert decoded.size == sum(c.length for c in manifest.chunks)


def _same_or_refused(data: bytes, wanted: tuple[object, ...]) -> None:
    try:
        decoded = Manifest.decode(data)
    except ManifestError:
        return
    assert facts(decoded) == wanted, data


@SETTINGS
@given(manifests(), st.integers(1, 255))
def test_every_changed_byte_is_refused_or_harmless(manifest: Manifest, flip: int) -> None:
    data = manifest.encode()
    wanted = facts(manifest)
    for at in range(len(data)):
        for xor in {flip, 0x01, 0x80}:
            damaged = bytearray(data)
            damaged[at] ^= xor
            _same_or_refused(bytes(damaged), wanted)


@SETTINGS
@given(manifests())
def test_every_truncation_is_refused(manifest: Manifest) -> None:
    data = manifest.encode()
    wanted = facts(manifest)
    for size in range(len(data)):
        _same_or_refused(data[:size], wanted)


@SETTINGS
@given(manifests(), st.binary(min_size=1, max_size=16))
def test_bytes_appended_are_refused_or_harmless(manifest: Manifest, tail: bytes) -> None:
    _same_or_refused(manifest.encode() + tail, facts(manifest))


def _sealed(head: bytes, raw: bytes = b"") -> bytes:
    """A manifest object of ``head`` (the JSON line) and ``raw`` index with a correct CRC."""
    body = MAGIC + head + b"\n" + zlib.compress(raw)
    return body + zlib.crc32(body).to_bytes(4, "big")


def _head(drop: str = "", **changes: object) -> bytes:
    head: dict[str, object] = {
        "format": "simh",
        "generation": 1,
        "token": "t",
        "chunks": [["ab", 10]],
        "objects": 0,
        "marks": 0,
        "end": 10,
        "index_crc": zlib.crc32(b""),
    }
    head.update(changes)
    head.pop(drop, None)
    return json.dumps(head).encode()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "not an rmtd manifest (no magic line)"),
        (b"RMTD-MANIFEST 1\n{}\n", "not an rmtd manifest (no magic line)"),
        (MAGIC + b"\x00\x00\x00\x00", "damaged manifest (its bytes are not the ones written"),
        (_sealed(b"[]"), "unreadable manifest (no JSON object)"),
        (_sealed(b"{"), "unreadable manifest"),
        (_sealed(_head(chunks=[["ab", 0]])), "damaged manifest (chunk list)"),
        (_sealed(_head(end=11)), "damaged manifest (chunks hold 10 bytes, index 11)"),
        (_sealed(_head(index_crc=1)), "its index is not the one written: CRC"),
        (_sealed(_head(objects=1)), "damaged manifest (index length)"),
        (_sealed(_head(drive={"position": -1})), "damaged manifest (wrong position)"),
        (_sealed(_head(generation=None)), "damaged manifest (TypeError"),
        (_sealed(_head(drop="format")), "damaged manifest (KeyError"),
    ],
)
def test_damage_inside_a_whole_object_is_named(data: bytes, words: str) -> None:
    """Past the CRC (a writer's bug, or another program's object), each check still holds."""
    with pytest.raises(ManifestError) as refused:
        Manifest.decode(data)
    assert words in str(refused.value)


def test_the_sealed_helper_makes_a_valid_manifest() -> None:
    """The parametrized cases above fail for their one change, not for the helper."""
    decoded = Manifest.decode(_sealed(_head()))
    assert (decoded.generation, decoded.chunks, decoded.size) == (1, [Chunk("ab", 0, 10)], 10)
