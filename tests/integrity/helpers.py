"""Shared helpers of the integrity tests: the installed ``vmt`` and ``rmtd`` run as users run them.

Scenarios run the venv's ``vmt`` as a subprocess (its exit status and standard error are what a
user sees, logging included) and reach ``rmtd`` through the fake rsh of ``tests/e2e``.
"""

from __future__ import annotations

import os
import random
import shlex
import subprocess
import sys
from pathlib import Path

FAKERSH = str(Path(__file__).parents[1].joinpath("e2e", "fakersh").resolve())
VMT = str(Path(sys.executable).with_name("vmt"))
RMTD = str(Path(sys.executable).with_name("rmtd"))
TIMEOUT = 60

Done = subprocess.CompletedProcess[str]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the variables that would change a command's target."""
    env = {k: v for k, v in os.environ.items() if k not in ("SERVER", "TAPE", "RSH")}
    env.update(extra)
    return env


def vmt(cwd: Path, *args: str) -> Done:
    """Run the installed ``vmt`` with ``args`` in ``cwd``."""
    return subprocess.run(
        [VMT, *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )


def rmtd_command(root: Path, *options: str) -> str:
    """The remote command that serves ``root`` with rmtd (and ``options``)."""
    return " ".join(shlex.quote(a) for a in (RMTD, "--root", str(root), *options))


def vmt_remote(cwd: Path, rmt_command: str, device: str, *args: str) -> Done:
    """Run ``vmt -f localhost:DEVICE ARGS`` against ``rmt_command`` through the fake rsh."""
    return subprocess.run(
        [VMT, "--rsh-command", FAKERSH, "--rmt-command", rmt_command, "-f", device, *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )


def tar_remote(cwd: Path, rmt_command: str, *args: str) -> Done:
    """Run GNU tar with its archive on ``localhost:`` served by ``rmt_command``."""
    return subprocess.run(
        ["tar", f"--rsh-command={FAKERSH}", "--rmt-command=rmtd", *args],
        cwd=cwd,
        env=clean_env(SERVER=rmt_command),
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )


def side_files(image: Path) -> list[Path]:
    """The files rmtd keeps beside ``image`` that exist now."""
    return [p for p in (Path(f"{image}.rmtd"), Path(f"{image}.rmtd-index")) if p.exists()]


def make_tar(
    where: Path, name: str = "a.tar", size: int = 10000, seed: int = 1, member: str = "data.txt"
) -> Path:
    """A real GNU tar archive of one member of ``size`` bytes (20,480 bytes for the default)."""
    src = where / f"{name}.d"
    src.mkdir()
    rng = random.Random(seed)
    (src / member).write_text("".join(rng.choice("abcdefgh\n") for _ in range(size)))
    archive = where / name
    subprocess.run(["tar", "-cf", str(archive), "-C", str(src), member], check=True)
    return archive


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line of standard error of a failed command (asserts there is exactly one)."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]
