r"""`CommandParser`: bytes from the client in, requests out (sans-I/O, h11 style).

The parser never reads or writes anything itself. A transport feeds it bytes and asks
for events. The bulk data of ``W`` is never parsed: bytes that arrived with the header
are copied once into the caller's record buffer, the rest can be read straight into it:

.. code-block:: python

    record = bytearray()                                 # grown to the largest W seen
    while True:
        event = parser.next_event()                      # may raise ProtocolError
        if event is NEED_DATA:
            n = stream.readinto(parser.get_buffer())     # no intermediate bytes object
            parser.buffer_updated(n)
            if n == 0:
                parser.receive_data(b"")                 # end of input
            continue
        if event is CLOSED:
            break
        if isinstance(event, WriteRequest):
            if len(record) < event.count:                # at most max_record: allocate
                record = bytearray(event.count)          # what is asked, not the limit
            view = memoryview(record)[: event.count]
            got = parser.read_payload_into(view)         # bytes already buffered first
            while got < event.count:
                n = stream.readinto(view[got:])          # then straight from the pipe
                if n == 0:
                    parser.receive_data(b"")             # next_event: premature EOF
                    break
                parser.payload_received(n)
                got += n
        send(session.handle(event, ...).chunks())        # os.writev, no concatenation

`get_buffer`/`buffer_updated` is the asyncio ``BufferedProtocol`` pair; `receive_data`
(one copy) works too. A session that refuses a ``W`` before taking its payload calls
`discard_payload` and the parser drops the bytes as they arrive.
"""

from __future__ import annotations

import errno
import re
from typing import Final

from rmtd.protocol.buffer import Buffer, ReceiveBuffer
from rmtd.protocol.commands import COMMANDS, CommandSpec, ParserConfig
from rmtd.protocol.errors import ProtocolError, RequestError
from rmtd.protocol.limits import DEFAULT_MAX_RECORD, MAX_RECORD_LIMIT
from rmtd.protocol.requests import (
    CLOSED,
    NEED_DATA,
    Event,
    ReadRequest,
    RejectedRequest,
    Signal,
    WriteRequest,
)

__all__ = ["CommandParser"]


# Skipped in command position: paxutils rtapelib.c since 2024 sends "S\n" (others "S").
_BLANKS: Final = re.compile(rb"[ \t\r\n]*")

# The requests of a backup's steady state, "R<count>\n" and "W<count>\n" with a plain decimal
# count, framed and decoded by one regex match; every other form (signs, blanks, long or empty
# counts, counts over the limits) takes the general path, which decodes the same bytes the same
# way (tests/protocol/test_parser_fast_path.py proves the two agree).
_RECORD_REQUEST: Final = re.compile(rb"[ \t\r\n]*([RW])([0-9]{1,9})\n")
_READ, _WRITE = ord("R"), ord("W")
_CACHED_REQUESTS = 64  # distinct counts remembered; a client uses one or two


class CommandParser:
    r"""Incremental parser of the client-to-server byte stream.

    Args:
        max_line: Longest argument line, in bytes without the ``\n``. A longer line is
            discarded up to its ``\n`` without being stored and the request is rejected
            (ENAMETOOLONG for a device, as Schily's rmt.c; EINVAL otherwise).
        max_record: Largest ``R``/``W`` count served. ``R`` above it is rejected with
            ENOMEM; a ``W`` above it has its payload skipped, then is rejected.
        max_skip: Largest ``W`` count skipped to stay in sync; a larger count is a
            `ProtocolError` (no client can mean it).
        trust_numeric_flags: Keep every bit of a purely numeric ``O`` flags line.
        strict_flag_names: Reject unknown ``O`` flag names instead of ignoring them.
        chunk_size: Default size of the area `get_buffer` lends.

    Raises:
        ValueError: On inconsistent limits.
    """

    def __init__(
        self,
        *,
        max_line: int = 4096,
        max_record: int = DEFAULT_MAX_RECORD,
        max_skip: int = MAX_RECORD_LIMIT,
        trust_numeric_flags: bool = False,
        strict_flag_names: bool = False,
        chunk_size: int = 64 << 10,
    ) -> None:
        if max_line < 1 or max_record < 0 or max_skip < max_record or chunk_size < 1:
            raise ValueError("need max_line >= 1, 0 <= max_record <= max_skip, chunk_size >= 1")
        self.config: Final = ParserConfig(
            max_line, max_record, max_skip, trust_numeric_flags, strict_flag_names
        )
        self._chunk = chunk_size
        self._buf = ReceiveBuffer(chunk_size)
        self._eof = False
        self._error: ProtocolError | None = None
        self._spec: CommandSpec | None = None  # command being framed
        self._args: list[bytes] = []
        self._too_long: str | None = None  # first argument line that overflowed
        self._discarding = False  # inside an over-long line: drop up to its "\n"
        self._scanned = 0  # buffered bytes known to hold no "\n"
        self._payload = 0  # W payload bytes the caller has yet to take
        self._skip = 0  # bytes the parser drops by itself (refused W payload)
        self._after_skip: RejectedRequest | None = None
        self._requests: dict[tuple[int, int], ReadRequest | WriteRequest] = {}

    # -- input -------------------------------------------------------------------------

    def receive_data(self, data: Buffer) -> None:
        """Append bytes received from the client (one copy); ``b""`` ends the input.

        Ignored after a `ProtocolError`.

        Raises:
            RuntimeError: On data after the end of input, or while `get_buffer` is lent.
        """
        self._check_not_lent()
        if self._error is not None:
            return
        if not memoryview(data).nbytes:
            self._eof = True
        elif self._eof:
            raise RuntimeError("receive_data() after the end of input")
        else:
            self._buf.append(data)

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Lend the free space after the buffered bytes, for ``readinto``/``recv_into``.

        Call `buffer_updated` with the number of bytes written before any other method.

        Args:
            sizehint: Minimum size wanted; <= 0 means the default chunk size.

        Returns:
            A writable byte view of at least ``max(sizehint, 1)`` bytes.
        """
        self._check_not_lent()
        return self._buf.lend(sizehint if sizehint > 0 else self._chunk)

    def buffer_updated(self, nbytes: int) -> None:
        """Account for `nbytes` (>= 0) written into the view from `get_buffer`.

        Raises:
            RuntimeError: Without a preceding `get_buffer`.
            ValueError: If `nbytes` is negative or larger than the lent view.
        """
        if not self._buf.lent:
            raise RuntimeError("buffer_updated() without get_buffer()")
        self._buf.commit(nbytes if self._error is None else 0)

    # -- W payload ---------------------------------------------------------------------

    @property
    def payload_remaining(self) -> int:
        """Bytes of the current ``W`` payload the caller has not taken yet."""
        return self._payload

    @property
    def buffered(self) -> int:
        """Bytes received and not yet parsed, taken or dropped."""
        return len(self._buf)

    def read_payload_into(self, buffer: bytearray | memoryview) -> int:
        """Move buffered ``W`` payload bytes to the start of `buffer` (byte format).

        Copies ``min(len(buffer), payload_remaining, buffered)`` bytes. When that is
        less than `payload_remaining`, nothing is buffered any more: the transport may
        read the rest itself and report it with `payload_received`.

        Returns:
            The number of bytes written.
        """
        with memoryview(buffer) as view:
            taken = self._buf.take_into(view[: self._payload])
        self._payload -= taken
        return taken

    def payload_received(self, nbytes: int) -> None:
        """Account for `nbytes` of payload the transport read itself, past the parser.

        Raises:
            RuntimeError: If bytes are still buffered (they come first in the stream).
            ValueError: If `nbytes` is negative or exceeds `payload_remaining`.
        """
        if len(self._buf):
            raise RuntimeError("payload bytes are still buffered: read_payload_into() first")
        if not 0 <= nbytes <= self._payload:
            raise ValueError(f"{nbytes} payload bytes received, {self._payload} expected")
        self._payload -= nbytes

    def discard_payload(self) -> None:
        """Have the parser drop the rest of the current payload as it arrives."""
        self._skip += self._payload
        self._payload = 0

    # -- output ------------------------------------------------------------------------

    def next_event(self) -> Event | Signal:
        """Parse the next request.

        Returns:
            A request; a `RejectedRequest` (reply its error, then continue);
            `NEED_DATA`; or `CLOSED` once the input ended cleanly between requests.

        Raises:
            ProtocolError: On a framing error, and again on every later call.
            RuntimeError: While a ``W`` payload is pending (take it first) or
                `get_buffer` is lent.
        """
        buf = self._buf
        if not (self._payload or self._skip or self._spec or self._error or buf.lent):
            if not len(buf):
                return CLOSED if self._eof else NEED_DATA
            match = buf.match(_RECORD_REQUEST)
            if match is not None:
                request = self._record_request(match[1][0], int(match[2]))
                if request is not None:
                    buf.drop(match.end() - match.start())
                    return request
        self._check_not_lent()
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except ProtocolError as exc:
            self._error = exc
            self._buf.clear()
            raise

    def _record_request(self, letter: int, count: int) -> ReadRequest | WriteRequest | None:
        """The request of a plain ``R``/``W`` line within the limits (None: not one of those).

        Requests are frozen, so equal ones are shared rather than built anew per record.
        """
        if count > self.config.max_record:
            return None  # the general path rejects it, skipping a W's payload first
        key = (letter, count)
        request = self._requests.get(key)
        if request is None:
            request = ReadRequest(count) if letter == _READ else WriteRequest(count)
            if len(self._requests) < _CACHED_REQUESTS:
                self._requests[key] = request
        if letter == _WRITE:
            self._payload = count
        return request

    def _next(self) -> Event | Signal:
        while True:
            if self._payload:
                if self._eof and len(self._buf) < self._payload:
                    raise ProtocolError(errno.EIO, "premature end of input in W data")
                raise RuntimeError("W payload pending: read_payload_into() first")
            if self._skip:
                self._skip -= self._buf.drop(self._skip)
                if self._skip:
                    return self._need("W data")
                rejected, self._after_skip = self._after_skip, None
                if rejected is not None:
                    return rejected
            spec = self._spec or self._start_command()
            if spec is None:
                return CLOSED if self._eof else NEED_DATA
            if not self._collect(spec):
                return self._need(spec.name)
            event = self._finish(spec)
            if event is not None:
                return event

    def _start_command(self) -> CommandSpec | None:
        """Skip blanks and read a command letter; None if the buffer ran out first."""
        buf = self._buf
        buf.drop_run(_BLANKS)
        if not len(buf):
            return None
        letter = buf.first()
        buf.drop(1)
        spec = COMMANDS.get(letter)
        if spec is None:
            raise ProtocolError(errno.EINVAL, f"Garbage command {repr(bytes([letter]))[1:]}")
        self._spec, self._args, self._too_long = spec, [], None
        return spec

    def _collect(self, spec: CommandSpec) -> bool:
        """Gather the argument lines and raw bytes of `spec`; False if incomplete."""
        while len(self._args) < len(spec.lines):
            line = self._read_line(spec.lines[len(self._args)])
            if line is None:
                return False
            self._args.append(line)
        if spec.raw:
            if len(self._buf) < spec.raw:
                return False
            self._args.append(self._buf.take(spec.raw))
        return True

    def _finish(self, spec: CommandSpec) -> Event | None:
        """Build the event of a framed request (None: its payload is skipped first)."""
        args, self._args, self._spec = self._args, [], None
        if self._too_long is not None:
            code = errno.ENAMETOOLONG if self._too_long == "device" else errno.EINVAL
            message = f"{spec.letter} {self._too_long} longer than {self.config.max_line} bytes"
            return RejectedRequest(spec.letter, code, message)
        try:
            request = spec.decode(args, self.config)
        except RequestError as exc:
            return RejectedRequest(spec.letter, exc.errno, exc.message)
        if isinstance(request, WriteRequest):
            count, limit = request.count, self.config.max_record
            if count > self.config.max_skip:
                raise ProtocolError(errno.ENOMEM, f"write count {count} is not a record size")
            if count > limit:
                self._skip = count
                message = f"write of {count} bytes exceeds the limit of {limit} bytes"
                self._after_skip = RejectedRequest("W", errno.ENOMEM, message)
                return None
            self._payload = count
        return request

    def _read_line(self, name: str) -> bytes | None:
        r"""Take one ``\n``-terminated line (without it), or None if incomplete."""
        buf, limit = self._buf, self.config.max_line
        newline = buf.find(b"\n", self._scanned)
        if newline < 0:
            if self._discarding or len(buf) > limit:
                self._overflow(name)
                buf.drop(len(buf))  # never store an over-long line
                self._scanned = 0
            else:
                self._scanned = len(buf)
            return None
        self._scanned = 0
        if self._discarding or newline > limit:
            self._overflow(name)
            self._discarding = False
            buf.drop(newline + 1)
            return b""
        line = buf.take(newline)
        buf.drop(1)
        return line

    def _overflow(self, name: str) -> None:
        self._discarding = True
        if self._too_long is None:
            self._too_long = name

    def _need(self, what: str) -> Signal:
        if self._eof:
            raise ProtocolError(errno.EIO, f"premature end of input in {what} request")
        return NEED_DATA

    def _check_not_lent(self) -> None:
        if self._buf.lent:
            raise RuntimeError("get_buffer() is lent: call buffer_updated() first")
