"""A built sdist and wheel, and a fresh venv with only the wheel installed, once per session.

The tree is copied first (``python -m build`` writes ``*.egg-info`` next to the sources), the
way a user builds a release: ``python -m build`` makes the sdist, then the wheel *from the
sdist* (build's default), so a wheel here also proves the sdist builds one by itself. Both
steps and the install take their dependencies (setuptools, click, construct, tomlkit) from the
package index as pip is configured, and pip's cache keeps repeated runs quick.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".hypothesis", ".pytest_cache", ".mypy_cache",
    ".ruff_cache", "dist", "build", "*.egg-info",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Built:
    """What ``python -m build`` made: the sdist and the wheel built from it."""

    sdist: Path
    wheel: Path


@dataclass(frozen=True, slots=True)
class Installed:
    """A fresh venv with only the wheel (and its dependencies) installed."""

    prefix: Path

    @property
    def bin(self) -> Path:
        """The venv's scripts directory."""
        return self.prefix / "bin"


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output when it fails."""
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, (
        f"{args}: exit {result.returncode}\n{result.stdout}{result.stderr}"
    )
    return result


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist and the wheel ``python -m build`` makes from a copy of the tree."""
    base = tmp_path_factory.mktemp("build")
    tree = base / "tree"
    shutil.copytree(ROOT, tree, ignore=IGNORED, symlinks=True)
    result = run(sys.executable, "-m", "build", "--outdir", base / "dist", tree)
    log = result.stdout + result.stderr
    assert "* Building wheel from sdist" in log  # not from the tree: the sdist is enough
    (sdist,) = (base / "dist").glob("rmtd-*.tar.gz")
    (wheel,) = (base / "dist").glob("rmtd-*.whl")
    return Built(sdist, wheel)


@pytest.fixture(scope="session")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A new venv (``python -m venv``) into which pip installed the wheel."""
    prefix = tmp_path_factory.mktemp("venv") / "rmtd"
    venv.create(prefix, with_pip=True)
    run(prefix / "bin/python", "-m", "pip", "install", "-q", built.wheel)
    return Installed(prefix)
