"""After a large ``W`` the transport reads the next line on its own: a wrong guess loses nothing.

The guess (the same ``W`` line again) only decides how many bytes the next read asks for. Here
the client sends everything at once and changes record sizes, so every guess is wrong in some
way; each record must still land whole, in order.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from devices.interface import OpenOptions
from devices.vtape import open_tape_image
from rmtd.compose import build_session, load_server_config
from rmtd.transports.stdio import LINE_FIRST_FROM
from tests.server.test_send_extent import read_line, serve_in_thread


def test_pipelined_writes_of_changing_sizes_all_land(tmp_path: Path) -> None:
    sizes = [LINE_FIRST_FROM, LINE_FIRST_FROM, 3 * LINE_FIRST_FROM + 5, 100, LINE_FIRST_FROM + 1]
    records = [os.urandom(size) for size in sizes]
    config, drives = load_server_config(None, {"root": str(tmp_path)})
    session, _ = build_session(config, drives, read_only=False)
    ours, theirs = socket.socketpair()
    thread, status = serve_in_thread(session, ours)
    stream = b"Ot.tap/nostream\n66 O_RDWR|O_CREAT\n"
    stream += b"".join(b"W%d\n" % len(r) + r for r in records) + b"C\n"
    try:
        theirs.sendall(stream)
        replies = [read_line(theirs) for _ in range(len(records) + 2)]
    finally:
        theirs.close()
        thread.join(10)
        ours.close()
    assert status == [0]
    assert replies == [b"A0\n", *(b"A%d\n" % len(r) for r in records), b"A0\n"]
    drive = open_tape_image(str(tmp_path / "t.tap"), OpenOptions())
    drive.rewind()
    for record in records:
        buffer = bytearray(len(record))
        assert drive.readinto(memoryview(buffer)) == len(record) and buffer == record
    drive.close()
