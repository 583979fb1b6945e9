"""Fixtures for the real-drive tests: C helpers compiled with gcc for this machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def compile_c(source: str, target: Path, *options: str) -> Path:
    """Compile ``tests/drives/<source>`` into ``target`` with gcc (warnings are errors)."""
    subprocess.run(
        ["gcc", "-Wall", "-Wextra", "-Werror", "-O1", *options, "-o", str(target),
         str(HERE / source), "-ldl"],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return target


@pytest.fixture(scope="session")
def faketape_so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LD_PRELOAD shim that makes /dev/nst0 and /dev/st0 a small tape (faketape.c)."""
    out = tmp_path_factory.mktemp("faketape") / "faketape.so"
    return compile_c("faketape.c", out, "-shared", "-fPIC")


@pytest.fixture(scope="session")
def header_values(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """The ioctl numbers, struct sizes and offsets the kernel headers give (mtsizes.c)."""
    program = compile_c("mtsizes.c", tmp_path_factory.mktemp("mtsizes") / "mtsizes")
    out = subprocess.run([str(program)], check=True, capture_output=True, text=True).stdout
    return {key: int(value) for key, value in (line.split() for line in out.splitlines())}
