"""The manifest of a stored volume: its chunks, its object index and its drive state.

A stored volume is immutable chunk objects (``VOLUME/chunks/NAME``: consecutive bytes of the
image, cut between records, so a chunk read alone is a run of whole records in the volume's
format) and this one small object, ``VOLUME/manifest``, which says which chunks make the image
(in order, with their lengths), where every record and filemark starts (the same
:class:`~devices.formats.index.ObjectIndex` a local image keeps beside it, so fsf/eom are binary
searches after one manifest read), and what a local image keeps in its state file (the volume's
density, capacity and protect tab, the drive's position). Each write of it is a new
*generation*, and it is only ever replaced by a conditional PUT on the ETag it was read with.

Encoding: a magic line, one JSON line (the chunk list, the counts, the state, a CRC-32 of the
raw index), then the index, zlib-compressed: record offsets as differences (a volume of equal
records compresses to almost nothing), lengths, filemark numbers, as little-endian int64; last,
a CRC-32 of everything before it (4 bytes, big-endian). The JSON line has no check of its own,
and a changed digit in it (a chunk's length, the generation, the position) would otherwise
decode as a different, valid manifest: a CRC-32 detects every error within 32 bits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import operator
import sys
import zlib
from array import array
from dataclasses import dataclass, field

from devices.formats.index import ObjectIndex
from devices.state import DriveState, VolumeInfo, from_dict

MAGIC = b"RMTD-MANIFEST 2\n"
"""Version 2: version 1 had no CRC over the whole object."""
_CRC = 4


class ManifestError(ValueError):
    """The bytes are not a manifest this code wrote (damage, or another program's object)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk object: its name under ``VOLUME/chunks/``, and where it lies in the image."""

    name: str
    start: int
    length: int

    @property
    def end(self) -> int:
        """The image offset just past the chunk."""
        return self.start + self.length


def data_digest(chunks: list[Chunk]) -> str:
    """What identifies the bytes a manifest names: a digest of its chunks' names and places.

    Chunk names are never reused (a fresh UUID per upload), so two manifests with the same
    digest hold the same image, whatever else (position, labels) differs between them.
    """
    text = "\n".join(f"{c.name} {c.start} {c.length}" for c in chunks)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PackedIndex:
    """An index as a manifest object stores it: compressed, with its counts and CRC-32."""

    objects: int
    marks: int
    end: int
    crc: int
    data: bytes
    """The zlib-compressed raw index (see the module's docstring)."""

    def describes(self, index: ObjectIndex) -> bool:
        """Whether the counts and end agree with ``index``.

        A check, not a proof: see :attr:`Manifest.packed` for who decides that the index is
        unchanged.
        """
        return (self.objects, self.marks, self.end) == (len(index), len(index.marks), index.end)


@dataclass
class Manifest:
    """What the manifest object says (see the module's docstring)."""

    format: str
    generation: int = 0
    chunks: list[Chunk] = field(default_factory=list)
    index: ObjectIndex = field(default_factory=ObjectIndex)
    volume: VolumeInfo = field(default_factory=VolumeInfo)
    drive: DriveState = field(default_factory=DriveState)
    token: str = ""
    """Unique to this generation: a writer that crashed mid-commit finds out whether it landed."""
    packed: PackedIndex | None = field(default=None, compare=False, repr=False)
    """``index`` as the manifest object stores it, when known: set by :meth:`decode` and
    :meth:`encode`; a caller that changed the index since must not pass it on (a new manifest
    for an index unchanged since the last one may take the old one's, and skip packing it)."""

    @property
    def size(self) -> int:
        """The bytes of image the chunks hold."""
        return self.chunks[-1].end if self.chunks else 0

    def encode(self) -> bytes:
        """The manifest object's bytes."""
        packed = self._pack()
        head = {
            "format": self.format,
            "generation": self.generation,
            "token": self.token,
            "chunks": [[c.name, c.length] for c in self.chunks],
            "objects": packed.objects,
            "marks": packed.marks,
            "end": packed.end,
            "index_crc": packed.crc,
            "volume": dataclasses.asdict(self.volume),
            "drive": dataclasses.asdict(self.drive),
        }
        line = json.dumps(head, separators=(",", ":")).encode() + b"\n"
        body = MAGIC + line + packed.data
        return body + zlib.crc32(body).to_bytes(_CRC, "big")

    def _pack(self) -> PackedIndex:
        """The index as stored: :attr:`packed` if it is given for this index, else packed now.

        Packing is the costly part of a commit (the offsets' differences are taken one by one:
        about 70 ms for a million records), and most commits (a close after positioning, a
        read) leave the index as it was read.
        """
        index, packed = self.index, self.packed
        if packed is not None and packed.describes(index):
            return packed
        offsets = index.offsets
        deltas = array("q", offsets[:1])
        deltas.extend(map(operator.sub, offsets[1:], offsets[:-1]))
        raw = b"".join(_le(a) for a in (deltas, index.lengths, index.marks))
        packed = PackedIndex(
            len(index), len(index.marks), index.end, zlib.crc32(raw), zlib.compress(raw, 1)
        )
        self.packed = packed
        return packed

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        """Read a manifest object's bytes.

        Raises:
            ManifestError: for bytes that are not a whole, undamaged manifest.
        """
        if not data.startswith(MAGIC):
            raise ManifestError("not an rmtd manifest (no magic line)")
        body, trailer = data[:-_CRC], data[-_CRC:]
        if len(body) <= len(MAGIC) or zlib.crc32(body) != int.from_bytes(trailer, "big"):
            raise ManifestError("damaged manifest (its bytes are not the ones written: CRC)")
        data = body
        newline = data.find(b"\n", len(MAGIC))
        try:
            head = json.loads(data[len(MAGIC) : newline])
            raw = zlib.decompress(data[newline + 1 :])
        except (ValueError, zlib.error) as exc:
            raise ManifestError(f"unreadable manifest ({exc})") from None
        if not isinstance(head, dict):
            raise ManifestError("unreadable manifest (no JSON object)")
        try:
            manifest = cls._from_parts(head, raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"damaged manifest ({type(exc).__name__}: {exc})") from None
        index = manifest.index
        index_crc = int(head["index_crc"])  # checked against the raw index by _from_parts
        compressed = data[newline + 1 :]
        manifest.packed = PackedIndex(
            len(index), len(index.marks), index.end, index_crc, compressed
        )
        return manifest

    @classmethod
    def _from_parts(cls, head: dict[str, object], raw: bytes) -> Manifest:
        if zlib.crc32(raw) != head["index_crc"]:
            raise ManifestError("damaged manifest (its index is not the one written: CRC)")
        count, marks = int(head["objects"]), int(head["marks"])  # type: ignore[call-overload]
        if len(raw) != 8 * (2 * count + marks):
            raise ManifestError("damaged manifest (index length)")
        parts = [_from_le(raw[8 * a : 8 * b]) for a, b in _spans(count, marks)]
        index = ObjectIndex()
        index.offsets = array("q", itertools.accumulate(parts[0]))
        index.lengths, index.marks = parts[1], parts[2]
        index.end = int(head["end"])  # type: ignore[call-overload]
        chunks, start = [], 0
        for name, length in head["chunks"]:  # type: ignore[attr-defined]
            if not isinstance(name, str) or not isinstance(length, int) or length <= 0:
                raise ManifestError("damaged manifest (chunk list)")
            chunks.append(Chunk(name, start, length))
            start += length
        if start < index.end:
            raise ManifestError(f"damaged manifest (chunks hold {start} bytes, index {index.end})")
        wrong: list[str] = []
        volume = from_dict(VolumeInfo, head.get("volume"), wrong)
        drive = from_dict(DriveState, head.get("drive"), wrong)
        if wrong:
            raise ManifestError(f"damaged manifest (wrong {', '.join(wrong)})")
        return cls(
            format=str(head["format"]),
            generation=int(head["generation"]),  # type: ignore[call-overload]
            chunks=chunks,
            index=index,
            volume=volume,
            drive=drive,
            token=str(head.get("token", "")),
        )


def _spans(count: int, marks: int) -> list[tuple[int, int]]:
    return [(0, count), (count, 2 * count), (2 * count, 2 * count + marks)]


def _le(values: array[int]) -> bytes:
    if sys.byteorder == "little":
        return values.tobytes()
    swapped = array("q", values)
    swapped.byteswap()
    return swapped.tobytes()


def _from_le(raw: bytes) -> array[int]:
    values = array("q")
    values.frombytes(raw)
    if sys.byteorder != "little":
        values.byteswap()
    return values
