"""The parser's fast path for plain ``R``/``W`` lines decodes exactly as the general path does.

A whole stream fed at once lets the fast path take every plain ``R<digits>\\n`` and
``W<digits>\\n``; the same stream fed a byte at a time never can (a lone ``R`` is not a whole
line), so the general path takes everything. The two event sequences must be equal, whatever the
counts look like (leading zeros, signs, blanks, ten digits, over the limits) and whatever comes
between them.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rmtd.protocol import CommandParser, ReadRequest, WriteRequest
from tests.protocol.protocol_helpers import bytewise, run

MAX_RECORD = 64

count_text = st.one_of(
    st.integers(0, 100).map(lambda n: b"%d" % n),
    st.integers(0, 100).map(lambda n: b"00%d" % n),
    st.sampled_from([b"", b" 5", b"5 ", b"+5", b"-5", b"1234567890", b"99999999999", b"x"]),
)


@st.composite
def record_request(draw: st.DrawFn) -> bytes:
    letter = draw(st.sampled_from([b"R", b"W"]))
    text = draw(count_text)
    line = draw(st.sampled_from([b"", b"\n", b" \r\n"])) + letter + text + b"\n"
    if letter == b"W":
        try:
            count = int(text.strip() or b"0")
        except ValueError:
            count = 0
        if 0 < count <= 2 * MAX_RECORD:
            line += draw(st.binary(min_size=count, max_size=count))
    return line


others = st.sampled_from([b"S", b"I6\n1\n", b"Ofile\n0\n", b"C\n", b"s\x01", b"L0\n0\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(record_request(), others), max_size=12))
def test_whole_and_bytewise_streams_give_the_same_events(parts: list[bytes]) -> None:
    stream = b"".join(parts)
    whole = run(CommandParser(max_record=MAX_RECORD, max_skip=1 << 20), [stream])
    bytewise_ = run(CommandParser(max_record=MAX_RECORD, max_skip=1 << 20), bytewise(stream))
    assert whole == bytewise_


def test_plain_lines_give_shared_requests() -> None:
    parser = CommandParser()
    parser.receive_data(b"R10240\nR10240\nW3\nabcW3\nxyz")
    first, second = parser.next_event(), parser.next_event()
    assert first == ReadRequest(10240) and first is second
    write = parser.next_event()
    assert write == WriteRequest(3)
    assert parser.payload_remaining == 3
    record = bytearray(3)
    assert parser.read_payload_into(record) == 3 and record == b"abc"
    assert parser.next_event() is write
