"""rmtd.protocol is sans-I/O: standard library only, none of its I/O modules (README, Layout)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import rmtd.protocol

PACKAGE = Path(rmtd.protocol.__file__).parent
FORBIDDEN = frozenset(
    {"os", "socket", "asyncio", "selectors", "select", "subprocess", "fcntl", "io", "ssl", "mmap"}
)


def imported_modules(source: str) -> list[str]:
    """Absolute names of the modules a source file imports (relative imports are in-package)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def violations(source: str) -> list[str]:
    bad: list[str] = []
    for name in imported_modules(source):
        top = name.partition(".")[0]
        if name == "rmtd.protocol" or name.startswith("rmtd.protocol."):
            continue
        if top in FORBIDDEN or top not in sys.stdlib_module_names:
            bad.append(name)
    return bad


def test_the_package_has_modules() -> None:
    assert len(list(PACKAGE.glob("*.py"))) >= 5


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_only_stdlib_without_io(path: Path) -> None:
    assert violations(path.read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        "import os",
        "import os.path",
        "from socket import socket",
        "import asyncio",
        "import click",
        "from construct import Struct",
        "import devices.interface",
        "from rmtd import session",
        "from rmtd.session import Session",
        "def f():\n    import subprocess",
    ],
)
def test_the_checker_catches(source: str) -> None:
    assert violations(source)


def test_the_checker_allows() -> None:
    source = (
        "from __future__ import annotations\nimport errno, re\nfrom rmtd.protocol.errors import X\n"
    )
    assert violations(source) == []
