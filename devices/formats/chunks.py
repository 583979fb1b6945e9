"""The chunked layout that AWS and HET tape images share (Hercules ``tapedev.h``, ``hetlib.h``).

An image is a sequence of chunks, each a 6-byte header and its data. The header holds the
chunk's data length (u16 LE), the length of the chunk before it (u16 LE; 0 for the first chunk
of the image and after a tapemark), flags1 and flags2. flags1 0x80 begins a record, 0x20 ends
it (a record in one chunk has 0xA0; a longer one is 0x80, 0x00..., 0x20), 0x40 is a tapemark (a
header alone, length 0). HET adds flags1 & 0x03: the compression of the whole block, set on
every chunk of it (1 zlib, 2 bzip2), and flags2 0x80: Bus-Tech's zlib.

:class:`ChunkFormat` scans, frames and reads such images; :mod:`devices.formats.aws` and
:mod:`devices.formats.het` say what a block's stored bytes mean. One record is one object of
the index: its offset is its first chunk's header and its length the data's, uncompressed.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field

from devices.errors import tape_error
from devices.formats.base import ScanResult
from devices.formats.index import FILEMARK, ObjectIndex
from devices.storage import Storage

HEADER = struct.Struct("<HHBB")
HEADER_SIZE = HEADER.size
BOR = 0x80
"""flags1: the chunk begins a record."""
TAPEMARK = 0x40
"""flags1: the header is a tapemark."""
EOR = 0x20
"""flags1: the chunk ends a record."""
COMPRESSION = 0x03
"""flags1: the block's compression (HET): 1 zlib, 2 bzip2."""
ZLIB, BZIP2 = 0x01, 0x02
BUSTECH_ZLIB = 0x80
"""flags2: Bus-Tech's zlib compression (read only)."""
UNKNOWN_FLAGS1 = 0x1C
"""flags1 bits that no Hercules version sets: nonsense in an image."""
MAX_CHUNK = 0xFFFF
"""Largest chunk (the length is 16 bits); Hercules writes 65,535-byte chunks."""
MAX_BLOCK = 2 << 20
"""Largest record we read or write: 2 MiB, Hercules 4's limit."""

_WINDOW = 1 << 20  # bytes of headers read at once by a scan
_PROBE_WINDOW = 1 << 16
_ONE_OBJECT = 512  # headers read at once when one object is walked: its data is read apart


@dataclass(slots=True)
class Block:
    """One object as its chunks lay it out.

    Attributes:
        offset: its first chunk's header.
        end: just past its last chunk.
        mark: it is a tapemark.
        method: the compression bits (flags1 & 0x03, or ``BUSTECH_ZLIB``); 0 for raw data.
        stored: data bytes as stored (compressed, if so).
        last: the length of its last chunk (the next chunk's "previous length").
        pieces: ``(data offset, length)`` of each chunk.
    """

    offset: int
    end: int = 0
    mark: bool = False
    method: int = 0
    stored: int = 0
    last: int = 0
    pieces: list[tuple[int, int]] = field(default_factory=list)


class BlockError(Exception):
    """A block is not well formed; ``torn``: it is cut short by the physical end."""

    def __init__(self, message: str, torn: bool = False) -> None:
        super().__init__(message)
        self.torn = torn


class HeaderReader:
    """Reads chunk headers through a window, so that a scan makes few system calls."""

    def __init__(self, storage: Storage, window: int = _WINDOW) -> None:
        self.storage = storage
        self.size = storage.size()
        self.buffer = bytearray(window)
        self.view = memoryview(self.buffer)
        self.base = 0
        self.avail = 0

    def header(self, pos: int) -> tuple[int, int, int, int] | None:
        """The header at ``pos`` (length, previous length, flags1, flags2); ``None``: the end."""
        if pos + HEADER_SIZE > self.size:
            return None
        rel = pos - self.base
        if rel < 0 or rel + HEADER_SIZE > self.avail:
            self.base = pos
            self.avail = self.storage.read_into(pos, self.view)
            rel = 0
            if self.avail < HEADER_SIZE:
                return None
        fields: tuple[int, int, int, int] = HEADER.unpack_from(self.buffer, rel)
        return fields


def compression(flags1: int, flags2: int) -> int:
    """The compression a chunk's flags name.

    0 (none), ``ZLIB``, ``BZIP2``, 3 (unknown), ``BUSTECH_ZLIB``, or -1 (Bus-Tech's bit with
    another method's: nonsense).
    """
    bits = flags1 & COMPRESSION
    if flags2 & BUSTECH_ZLIB:
        return BUSTECH_ZLIB if not bits else -1
    return bits


METHOD_NAMES = {ZLIB: "zlib", BZIP2: "bzip2", BUSTECH_ZLIB: "Bus-Tech zlib"}


def read_block(reader: HeaderReader, pos: int, previous: int | None) -> Block:
    """Walk the object whose first header is at ``pos``.

    ``previous`` is the length of the chunk before it (``None``: not checked).

    Raises:
        BlockError: the object is not well formed, or runs past the end (``torn``).
    """
    head = reader.header(pos)
    if head is None:
        raise BlockError(f"partial chunk header at offset {pos}", torn=True)
    length, prev, flags1, flags2 = head
    if previous is not None and prev != previous:
        raise BlockError(
            f"chunk at offset {pos} says the chunk before holds {prev} bytes, "
            f"but it holds {previous}"
        )
    if flags1 & TAPEMARK:
        if flags1 != TAPEMARK or flags2 or length:
            raise BlockError(f"tapemark at offset {pos} has flags {flags1:#04x} {flags2:#04x}")
        return Block(pos, pos + HEADER_SIZE, mark=True)
    if not flags1 & BOR:
        raise BlockError(f"chunk at offset {pos} does not begin a record (flags {flags1:#04x})")
    block = Block(pos, method=compression(flags1, flags2))
    return _record_chunks(reader, block, head)


def _record_chunks(reader: HeaderReader, block: Block, head: tuple[int, int, int, int]) -> Block:
    """Walk a record's chunks from its first header ``head`` (at ``block.offset``)."""
    pos, start = block.offset, block.offset
    while True:
        length, _, flags1, flags2 = head
        if flags1 & UNKNOWN_FLAGS1 or flags1 & TAPEMARK or (pos != start and flags1 & BOR):
            raise BlockError(
                f"chunk at offset {pos} of the record at offset {start} has flags "
                f"{flags1:#04x} {flags2:#04x}"
            )
        if compression(flags1, flags2) != block.method or block.method < 0:
            raise BlockError(
                f"chunk at offset {pos} of the record at offset {start}: compression flags "
                f"{flags1:#04x} {flags2:#04x} differ or are unknown"
            )
        data = pos + HEADER_SIZE
        if data + length > reader.size:
            raise BlockError(f"record at offset {start} runs past the end", torn=True)
        block.pieces.append((data, length))
        block.stored += length
        if block.stored > MAX_BLOCK:
            raise BlockError(f"record at offset {start} is longer than {MAX_BLOCK} bytes")
        pos = data + length
        if flags1 & EOR:
            break
        head_next = reader.header(pos)
        if head_next is None:
            raise BlockError(f"record at offset {start} runs past the end", torn=True)
        if head_next[1] != length:
            raise BlockError(
                f"chunk at offset {pos} says the chunk before holds {head_next[1]} bytes, "
                f"but it holds {length}"
            )
        head = head_next
    block.end, block.last = pos, length
    if block.stored == 0:
        raise BlockError(f"record at offset {start} holds no data")
    return block


def gather(storage: Storage, block: Block) -> bytearray:
    """The stored bytes of ``block``'s chunks, joined."""
    out = bytearray(block.stored)
    view = memoryview(out)
    at = 0
    for offset, length in block.pieces:
        if storage.read_into(offset, view[at : at + length]) != length:
            raise BlockError(f"record at offset {block.offset} is cut short", torn=True)
        at += length
    return out


def chunk_headers(length: int, previous: int, bits: int) -> list[tuple[int, bytes]]:
    """The headers of a ``length``-byte block in 65,535-byte chunks: (data length, header).

    ``previous`` is the length of the chunk before the block; ``bits`` the compression bits.
    """
    out: list[tuple[int, bytes]] = []
    done = 0
    while done < length:
        size = min(MAX_CHUNK, length - done)
        flags = bits | (BOR if done == 0 else 0) | (EOR if done + size == length else 0)
        out.append((size, HEADER.pack(size, previous, flags, 0)))
        previous = size
        done += size
    return out


def frame_chunks(data: memoryview, previous: int, bits: int) -> tuple[bytearray, int]:
    """Lay ``data`` out as chunks after a chunk of ``previous`` bytes; return them and the last."""
    heads = chunk_headers(len(data), previous, bits)
    out = bytearray(len(data) + HEADER_SIZE * len(heads))
    at = done = 0
    for size, head in heads:
        out[at : at + HEADER_SIZE] = head
        out[at + HEADER_SIZE : at + HEADER_SIZE + size] = data[done : done + size]
        at += HEADER_SIZE + size
        done += size
    return out, heads[-1][0]


def stored_size(length: int) -> int:
    """The bytes a raw ``length``-byte record takes in 65,535-byte chunks."""
    return length + HEADER_SIZE * max(1, -(-length // MAX_CHUNK))


class ChunkFormat:
    """What AWS and HET share: scanning, framing in chunks, reading, probing.

    A subclass says what a block's stored bytes are (:meth:`data_length`, :meth:`decode`,
    :meth:`encode`). The instance remembers the length of the last chunk it wrote, so that
    the next object's header can name it without reading the image again; anywhere else it
    reads the last object's chunks before the append point.
    """

    name = "chunks"
    max_record = MAX_BLOCK
    holds_bad_records = False
    headroom = HEADER_SIZE
    tailroom = 0

    def __init__(self) -> None:
        self._tail: tuple[int, int, int] | None = None  # (id(storage), end offset, last chunk)

    # -- what a subclass decides -------------------------------------------------------

    def check_method(self, block: Block) -> None:
        """Refuse a block whose compression this format does not allow (:class:`BlockError`)."""

    def data_length(self, storage: Storage, block: Block) -> int:
        """The data length of a record (uncompressed); :class:`BlockError` if it has none."""
        return block.stored

    def read_data(self, storage: Storage, block: Block, buffer: memoryview) -> int:
        """Read a record's data into ``buffer`` (its length at least); return the length."""
        at = 0
        for offset, length in block.pieces:
            if storage.read_into(offset, buffer[at : at + length]) != length:
                raise BlockError(f"record at offset {block.offset} is cut short", torn=True)
            at += length
        return at

    def encode(self, data: memoryview) -> tuple[memoryview, int]:
        """The bytes to store for a record's data, and their compression bits."""
        return data, 0

    # -- scanning ------------------------------------------------------------------------

    def scan(self, storage: Storage, index: ObjectIndex) -> ScanResult:
        """Index every object from ``index.end``, stopping at the physical end or a bad object."""
        reader = HeaderReader(storage)
        size, header = reader.size, reader.header
        add_offset, add_length = index.offsets.append, index.lengths.append
        pos = index.end  # 0 for a new index; a stored volume's spool continues its manifest's
        previous = self.previous_length(storage, index) if pos else 0
        result = ScanResult()
        while pos < size:
            head = header(pos)
            if head is not None:  # the common case inline: a raw record in one chunk
                length, prev, flags1, flags2 = head
                end = pos + HEADER_SIZE + length
                whole = flags1 == BOR | EOR and not flags2 and prev == previous
                if whole and length > 0 and end <= size:
                    add_offset(pos)
                    add_length(length)
                    pos, previous = end, length
                    continue
            try:
                block = read_block(reader, pos, previous)
                if block.mark:
                    index.add_filemark(pos)
                else:
                    self.check_method(block)
                    index.add_record(pos, self.data_length(storage, block))
            except BlockError as exc:
                result = ScanResult(str(exc), torn=exc.torn, offset=pos)
                break
            pos, previous = block.end, block.last
        index.end = pos
        self._tail = (id(storage), pos, previous) if result.problem is None else None
        return result

    def probe(self, storage: Storage, torn_first_ok: bool = False) -> str | None:
        """Check that ``storage`` starts like an image of this format; ``None``, or the flaw.

        The objects beginning in the first 64 KiB are walked. A flaw after a good record is
        damage the image layer reports, not a reason to call the file a stranger; a
        compressed block in a format that allows none is always a reason.
        """
        reader = HeaderReader(storage, _PROBE_WINDOW)
        pos, previous, seen = 0, 0, False
        while pos < min(reader.size, _PROBE_WINDOW):
            try:
                block = read_block(reader, pos, previous)
                if not block.mark:
                    self.check_method(block)
                    seen = True
            except BlockError as exc:
                if exc.torn and pos == 0 and torn_first_ok:
                    return None
                if seen and not isinstance(exc, ForeignBlockError):
                    return None
                return str(exc)
            pos, previous = block.end, block.last
        if seen or reader.size == 0 or pos >= reader.size:
            return None
        return f"no data record in the first {_PROBE_WINDOW} bytes"

    def length_code_at(self, storage: Storage, offset: int) -> int | None:
        """The index's length code of the object at ``offset``, if it is well formed."""
        try:
            block = read_block(HeaderReader(storage, _ONE_OBJECT), offset, None)
            if block.mark:
                return FILEMARK
            self.check_method(block)
            return self.data_length(storage, block)
        except BlockError:
            return None

    def ends_medium(self, storage: Storage, offset: int) -> bool:
        """AWS and HET have no end-of-medium marker: the data ends where the file does."""
        return False

    # -- reading -------------------------------------------------------------------------

    def read_record(self, storage: Storage, index: ObjectIndex, i: int, buffer: memoryview) -> int:
        """Read record ``i``'s data into ``buffer`` (at least its length)."""
        offset = index.offsets[i]
        length = index.record_length(i)
        try:
            block = read_block(HeaderReader(storage, _ONE_OBJECT), offset, None)
            if block.mark:
                raise BlockError(f"a tapemark at offset {offset}")
            self.check_method(block)
            if not block.method and block.stored != length:
                raise BlockError(f"record at offset {offset} changed length")
            got = self.read_data(storage, block, buffer[:length])
        except BlockError as exc:
            raise tape_error(errno.EIO, f"{storage.name}: record {i}: {exc}") from None
        if got != length:
            raise tape_error(
                errno.EIO, f"{storage.name}: record {i} at offset {offset} changed length"
            )
        return length

    def data_offset(self, index: ObjectIndex, i: int) -> int | None:
        """A record in one raw chunk lies whole after its header: its span says it is one.

        The object spans six bytes of header per chunk plus the data, so a span of exactly
        one header plus the record's length is one chunk.
        """
        offset = index.offsets[i]
        if index.offset(i + 1) - offset == HEADER_SIZE + index.record_length(i):
            return offset + HEADER_SIZE
        return None

    # -- writing -------------------------------------------------------------------------

    def previous_length(self, storage: Storage, index: ObjectIndex) -> int:
        """The length of the last chunk before the append point (``index.end``); 0 at BOT.

        The last object's chunks are read from the image unless this instance wrote it.
        """
        end = index.end
        if self._tail is not None and self._tail[:2] == (id(storage), end):
            return self._tail[2]
        n = len(index)
        if n == 0 or index.is_filemark(n - 1):
            return 0
        try:
            block = read_block(HeaderReader(storage, _ONE_OBJECT), index.offsets[n - 1], None)
        except BlockError as exc:
            raise tape_error(errno.EIO, f"{storage.name}: cannot append after it: {exc}") from None
        return block.last

    def frame(
        self,
        buffer: bytearray,
        length: int,
        storage: Storage,
        index: ObjectIndex,
        bad: bool = False,
    ) -> memoryview:
        """Frame ``buffer[6:6+length]`` as one record's chunks; return the bytes to write."""
        if bad:
            raise tape_error(errno.EINVAL, f"{storage.name}: {self.name} images have no bad marks")
        previous = self.previous_length(storage, index)
        data, bits = self.encode(memoryview(buffer)[HEADER_SIZE : HEADER_SIZE + length])
        if len(data) <= MAX_CHUNK and bits == 0:
            # The common case: one raw chunk, its header in the headroom, no copy.
            HEADER.pack_into(buffer, 0, len(data), previous, BOR | EOR, 0)
            framed, last = memoryview(buffer)[: HEADER_SIZE + len(data)], len(data)
        else:
            out, last = frame_chunks(data, previous, bits)
            framed = memoryview(out)
        self._tail = (id(storage), index.end + len(framed), last)
        return framed

    def record_size(self, length: int) -> int:
        """The bytes a record of ``length`` takes at most (stored raw, 65,535-byte chunks)."""
        return stored_size(length)

    def filemark(self) -> bytes:
        """One tapemark after a tapemark (its size is every tapemark's)."""
        return HEADER.pack(0, 0, TAPEMARK, 0)

    def filemarks(self, count: int, storage: Storage, index: ObjectIndex) -> bytes:
        """``count`` tapemarks to append at ``index.end``: the first names the chunk before."""
        if count <= 0:
            return b""
        previous = self.previous_length(storage, index)
        marks = HEADER.pack(0, previous, TAPEMARK, 0) + self.filemark() * (count - 1)
        self._tail = (id(storage), index.end + len(marks), 0)
        return marks


class ForeignBlockError(BlockError):
    """A block this format cannot hold although another can (a compressed one in AWS)."""
