"""Fixtures for end-to-end tests: real clients reach rmtd through a fake rsh."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

FAKERSH = str(Path(__file__).with_name("fakersh"))
RMTD = str(Path(sys.executable).with_name("rmtd"))

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """The directory rmtd serves (its --root)."""
    root = tmp_path / "served"
    root.mkdir()
    return root


@pytest.fixture
def server(served: Path, tmp_path: Path) -> str:
    """The shell command that starts ``rmtd --root served``, logging to ``rmtd.log``."""
    log = tmp_path / "rmtd.log"
    return f"{shlex.quote(RMTD)} --root {shlex.quote(str(served))} -v --log {log}"


@pytest.fixture
def run(server: str, tmp_path: Path) -> Run:
    """Run a client command with SERVER pointing at ``rmtd --root served``."""
    log = tmp_path / "rmtd.log"

    def runner(
        *args: str,
        check: bool = True,
        cwd: Path | None = None,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``args``; ``env`` adds variables, and one set to "" is removed."""
        merged = {**os.environ, "SERVER": server, "RSH": FAKERSH, **(env or {})}
        done = subprocess.run(
            list(args),
            env={name: value for name, value in merged.items() if value},
            cwd=cwd or tmp_path,
            capture_output=True,
            text=True,
            check=False,
            input=stdin,
            timeout=120,
        )
        if check and done.returncode != 0:
            server_log = log.read_text() if log.exists() else ""
            raise AssertionError(f"{args} failed: {done.returncode}\n{done.stderr}\n{server_log}")
        return done

    return runner
