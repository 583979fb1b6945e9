"""The pytest plugin: a tape server for the software under test, in a temporary directory.

Installed with rmtd (entry point ``pytest11``); it only defines fixtures, and imports rmtd's
server modules when a test first asks for one. The ``rmt_server`` fixture gives a test:

- ``rmt_server.tape(name, tape=None, faults=None)``: puts a tape image in the server's root
  (a :class:`rmtd.testing.Tape`, or a blank one), with :class:`rmtd.testing.Faults` if given,
  and returns the ``host:device`` string a client opens (``localhost:vol.tap``);
- ``rmt_server.rsh``: the path of an rsh stand-in that runs this rmtd whatever host and command
  it is asked for: give it to the client (``tar --rsh-command=...``, ``RSH=...`` for dump, an
  RMT client of your own);
- ``rmt_server.drive(name, image=None)``, ``load(drive, image)``, ``unload(drive)``: a named
  drive, as ``vmt load``/``unload`` manage it;
- ``rmt_server.files(name)``: the record lengths of each tape file, for assertions;
- ``rmt_server.log``: rmtd's log, where every injected fault is named.

Example (GNU tar against a tape whose third read fails)::

    from rmtd.testing import Faults, NthError, Random, Tape

    def test_tar_reports_a_read_error(rmt_server, tmp_path):
        tape = Tape("simh")
        tape.file(Random(size=10240, count=5))
        device = rmt_server.tape("vol.tap", tape, Faults(read_error=NthError(3, errno.EIO)))
        done = subprocess.run(["tar", f"--rsh-command={rmt_server.rsh}", "-tf", device], ...)
        assert "Cannot read: Input/output error" in done.stderr
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from rmtd.drives import DriveStore
    from rmtd.testing.faults import Faults
    from rmtd.testing.tape import Tape


class RmtServer:
    """rmtd serving a temporary root to clients started through :attr:`rsh`.

    Every client connection starts a new rmtd (as rsh or ssh would), reading the configuration
    this object writes, so tapes, faults and drives added between two client runs take effect.

    Args:
        base: a directory of its own (the root, the configuration, the log and the rsh go there).
    """

    def __init__(self, base: Path) -> None:
        self.root = base / "tapes"
        self.root.mkdir()
        self.config = base / "rmtd.toml"
        self.log = base / "rmtd.log"
        self.rsh = str(base / "rsh")
        self._faults: dict[str, Faults] = {}
        self._drives: dict[str, tuple[str | None, str]] = {}
        self._write_config()
        server = [
            sys.executable,
            "-c",
            "from rmtd.cli import main; main()",
            "--root",
            str(self.root),
            "--config",
            str(self.config),
            "-v",
            "--log",
            str(self.log),
        ]
        Path(self.rsh).write_text(
            "#!/bin/sh\n"
            "# An rsh stand-in from rmtd's pytest plugin: whatever host, user and command it is\n"
            "# given, it runs rmtd on its standard input and output.\n"
            f"exec {shlex.join(server)}\n"
        )
        os.chmod(self.rsh, 0o755)

    def device(self, name: str) -> str:
        """The ``host:device`` string for ``name`` (a file in the root, or a drive)."""
        return f"localhost:{name}"

    def tape(self, name: str, tape: Tape | None = None, faults: Faults | None = None) -> str:
        """Put a tape image ``name`` in the root (blank without ``tape``); its device string."""
        from rmtd.testing.tape import Tape

        (tape or Tape()).write(str(self.root / name))
        if faults is not None:
            self._faults[name] = faults
            self._write_config()
        return self.device(name)

    def drive(
        self, name: str, image: str | None = None, qualifiers: str = "/nomount/norewind/nounload"
    ) -> str:
        """Configure a named drive holding ``image`` (a name in the root) at first.

        ``qualifiers`` are the drive's own (README, Named drives): by default it keeps its tape
        and position between opens, as ``/dev/nst0`` does; ``""`` gives OpenVMS's defaults
        (the volume unloaded at close).
        """
        self._drives[name] = (image, qualifiers)
        self._write_config()
        return self.device(name)

    def load(self, drive: str, image: str) -> None:
        """Load ``image`` into ``drive``, as ``vmt load`` does."""
        self._store().load(drive, image)

    def unload(self, drive: str) -> None:
        """Unload ``drive``, as ``vmt unload`` does."""
        self._store().unload(drive)

    def files(self, name: str) -> list[list[int]]:
        """The record lengths of each tape file of image ``name`` (bad records negative)."""
        from devices.interface import OpenOptions
        from devices.vtape import open_tape_image

        drive = open_tape_image(str(self.root / name), OpenOptions())
        try:
            index = drive.image.index
            files: list[list[int]] = [[]]
            for i in range(len(index)):
                if index.is_filemark(i):
                    files.append([])
                else:
                    length = index.record_length(i)
                    files[-1].append(-length if index.is_bad(i) else length)
        finally:
            drive.close()
        if not files[-1]:
            files.pop()  # nothing after the last filemark
        return files

    def _store(self) -> DriveStore:
        from rmtd.compose import load_server_config
        from rmtd.drives import DriveStore

        config, _ = load_server_config(str(self.config), {"root": str(self.root)})
        return DriveStore(config)

    def _write_config(self) -> None:
        from rmtd.testing.faults import faults_config

        lines = []
        for drive, (image, qualifiers) in self._drives.items():
            lines.append(f"[drives.{drive}]")
            lines.append(f"qualifiers = {_quoted(qualifiers)}")
            if image is not None:
                lines.append(f"image = {_quoted(image)}")
        text = "\n".join(lines) + "\n"
        if self._faults:
            text += faults_config(self._faults)
        self.config.write_text(text)


def _quoted(text: str) -> str:
    """A TOML basic string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def rmt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RmtServer]:
    """A fresh rmtd serving a temporary root (see :class:`RmtServer`)."""
    yield RmtServer(tmp_path_factory.mktemp("rmt_server"))
