r"""An RMT client: reach a tape, or any file, on another host through rsh or ssh.

The remote server is started as a child process, the way GNU rtapelib and dump do it
(rtapelib.c, dumprmt.c): ``<rsh_command> <host> [-l <user>] <rmt_command>``; requests go to the
child's standard input and replies come from its standard output, unbuffered. The wire
format is the one every server understands: GNU's open-flags form
(``66 O_RDWR|O_CREAT``), ``S`` without a newline, and ``L`` in the offset-first order of
the BSD family, dump and GNU tar <= 1.34 (GNU rmt >= 1.23 wants whence first: pass
``lseek_order="whence-first"`` to talk to it; rmtd understands both).

Replies are read defensively: a status line is at most 64 bytes (GNU rtapelib's limit),
an error text at most `MAX_ERROR_TEXT`, an ``R`` reply never carries more than was asked
for, and an optional timeout bounds every wait. ``E`` and ``F`` replies become
``OSError(errno, text)``; anything the client cannot parse becomes ``OSError(EIO,
"protocol error: ...")`` and ends the connection, because the byte stream cannot be
trusted any more.

`RemoteTape` wraps one connection with an open device and satisfies
`devices.interface.TapeDevice`, so code written for local devices can use a remote one.
"""

from rmtd.client.connection import RmtConnection
from rmtd.client.names import (
    DEFAULT_RMT_COMMAND,
    MAX_ERROR_TEXT,
    MAX_STATUS_LINE,
    MAX_STATUS_SIZE,
    ClientLseekOrder,
    RemoteName,
    decode_mtget,
    encode_open_flags,
    parse_remote,
    rsh_argv,
)
from rmtd.client.tape import RemoteTape

__all__ = [
    "DEFAULT_RMT_COMMAND",
    "MAX_ERROR_TEXT",
    "MAX_STATUS_LINE",
    "MAX_STATUS_SIZE",
    "ClientLseekOrder",
    "RemoteName",
    "RemoteTape",
    "RmtConnection",
    "decode_mtget",
    "encode_open_flags",
    "parse_remote",
    "rsh_argv",
]
