"""``python -m build`` gives an sdist and a wheel that install working programs and man pages."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

from tests.install.conftest import ROOT, Built, Installed, run

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
MAN_PAGES = {"share/man/man8/rmtd.8": "man/rmtd.8", "share/man/man1/vmt.1": "man/vmt.1"}


def test_sdist_holds_what_a_wheel_and_a_user_need(built: Built) -> None:
    with tarfile.open(built.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    tracked = {
        "README.md", "pyproject.toml", "MANIFEST.in", "man/rmtd.8", "man/vmt.1",
        "man/build.py", "images/sample.tap", "images/build.py",
        "contrib/systemd/rmtd.socket", "contrib/systemd/rmtd@.service",
        "contrib/systemd/rmtd-listen.service", "rmtd/cli.py", "devices/drive.py",
        "tests/e2e/fakersh", "bench/__main__.py",
    }  # fmt: skip
    assert tracked <= names, tracked - names
    assert not {n for n in names if "__pycache__" in n or n.startswith(".venv")}


def test_wheel_carries_the_man_pages_as_data(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        for target, source in MAN_PAGES.items():
            data = wheel.read(f"rmtd-{VERSION}.data/data/{target}")
            assert data == (ROOT / source).read_bytes()
        assert not [n for n in wheel.namelist() if n.startswith(("tests/", "man/", "bench/"))]


def test_version_is_the_package_version(installed: Installed) -> None:
    assert importlib.metadata.version("rmtd") == VERSION  # the outer (editable) install
    for program in ("rmtd", "vmt"):
        result = run(installed.bin / program, "--version")
        assert result.stdout == f"{program}, version {VERSION}\n"


def test_vmt_makes_and_lists_an_image(installed: Installed, tmp_path: Path) -> None:
    image = tmp_path / "t.tap"
    payload = tmp_path / "payload"
    payload.write_bytes(b"x" * 1000)
    run(installed.bin / "vmt", "new", image)
    run(installed.bin / "vmt", "write", image, payload)
    listing = run(installed.bin / "vmt", "ls", image).stdout
    assert "File 0: records=1, bytes=1000" in listing
    assert "End of data: 1 files, 1 records, 1000 bytes." in listing


def test_installed_rmtd_serves_rmt(installed: Installed, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"hello")
    reply = subprocess.run(
        [installed.bin / "rmtd", "--root", tmp_path],
        input=b"Of\n0\nR5\nC\n",
        capture_output=True,
        check=True,
    )
    assert reply.stdout == b"A0\nA5\nhelloA0\n"


def test_man_finds_and_renders_the_pages(installed: Installed) -> None:
    for target in MAN_PAGES:
        page = installed.prefix / target
        rendered = run("man", "-l", page).stdout
        assert "SYNOPSIS" in rendered and "OPTIONS" in rendered
        checked = run("man", "--warnings", "-l", page)  # groff's warnings: bad roff
        assert checked.stderr == ""
    # man-db adds <dir>/../share/man for each PATH entry: a venv's bin on PATH is enough.
    env_path = f"{installed.bin}{os.pathsep}{os.environ['PATH']}"
    for section, name, target in (("8", "rmtd", "man8/rmtd.8"), ("1", "vmt", "man1/vmt.1")):
        found = subprocess.run(
            ["man", "-w", section, name],
            env={**{k: v for k, v in os.environ.items() if k != "MANPATH"}, "PATH": env_path},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert found == str(installed.prefix / "share/man" / target)
    rendered = run("man", "-l", installed.prefix / "share/man/man1/vmt.1").stdout
    unhyphenated = rendered.replace("\u2010", "-")  # groff's hyphen where it broke a word
    assert "vmt convert" in rendered and "--rsh-command" in unhyphenated


def test_pipx_installs_programs_and_pages(built: Built, tmp_path: Path) -> None:
    pipx_dirs = {
        "PIPX_HOME": tmp_path / "home",
        "PIPX_BIN_DIR": tmp_path / "bin",
        "PIPX_MAN_DIR": tmp_path / "man",
    }
    env = {**os.environ, **{key: str(path) for key, path in pipx_dirs.items()}}
    pipx = Path(sys.executable).parent / "pipx"
    subprocess.run([pipx, "install", built.wheel], env=env, capture_output=True, check=True)
    for program in ("rmtd", "vmt"):
        result = run(tmp_path / "bin" / program, "--version")
        assert result.stdout == f"{program}, version {VERSION}\n"
    for target, source in MAN_PAGES.items():
        linked = tmp_path / "man" / target.removeprefix("share/man/")
        assert linked.read_bytes() == (ROOT / source).read_bytes()
        assert "SYNOPSIS" in run("man", "-l", linked).stdout
