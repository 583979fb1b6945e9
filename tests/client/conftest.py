"""Fixtures for client tests: rmtd, Debian's C servers and a scripted server via fakersh."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rmtd.client import RmtConnection

FAKERSH = str(Path(__file__).parents[1].joinpath("e2e", "fakersh").resolve())
RMTD = str(Path(sys.executable).with_name("rmtd"))
FAKERMT = str(Path(__file__).with_name("fakermt.py").resolve())
# fakersh runs $SERVER instead of the command when it is set: keep it out.
ENV = {key: value for key, value in os.environ.items() if key != "SERVER"}
TIMEOUT = 10.0

Connect = Callable[..., RmtConnection]


def rmtd_command(root: Path) -> str:
    """The remote command that serves ``root`` with rmtd."""
    return f"{shlex.quote(RMTD)} --root {shlex.quote(str(root))}"


def scripted_command(*replies: bytes, hang: bool = False) -> str:
    """The remote command of a server that answers each request with the next reply.

    It exits after the last reply, or with ``hang`` goes on reading without answering.
    """
    args = [sys.executable, FAKERMT, *(["--hang"] if hang else []), *(r.hex() for r in replies)]
    return " ".join(shlex.quote(arg) for arg in args)


@pytest.fixture
def connect() -> Iterator[Connect]:
    """Open connections through fakersh; every one is shut down at the end of the test."""
    opened: list[RmtConnection] = []

    def factory(rmt_command: str, **options: Any) -> RmtConnection:
        options.setdefault("timeout", TIMEOUT)
        connection = RmtConnection(
            "localhost",
            rsh_command=FAKERSH,
            rmt_command=rmt_command,
            env=ENV,
            stderr=subprocess.DEVNULL,
            **options,
        )
        opened.append(connection)
        return connection

    yield factory
    for connection in opened:
        connection.shutdown()


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """The directory rmtd serves."""
    root = tmp_path / "served"
    root.mkdir()
    return root
