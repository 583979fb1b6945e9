"""Capture golden RMT transcripts: real clients talking to rmtd through a recording relay.

Run as root (rdump needs a loop device) from the repository, with the venv's Python::

    .venv/bin/python tests/golden/capture.py            # writes tests/golden/*.client|*.server

Each client run is one connection. The relay sits between the client's remote shell
(``tests/e2e/fakersh``) and ``rmtd --root``, copies bytes both ways unchanged and records them
raw: client to server in ``<name>.client``, server to client in ``<name>.server``. The
sessions (in the order ``test_golden.py`` replays them against one fresh root):

* ``tar``: ``tar -c`` of a small tree with fixed metadata onto
  ``t.tap/nomount/norewind/nounload``, ``mt-gnu rewind``, ``tar -t``.
* ``dump``: ``rdump -0`` of a tiny ext2 file system (``mke2fs -d`` on a loop device) onto
  ``dump.tap/nomount/norewind/nounload``, ``mt-gnu rewind``, ``rrestore -t``.

``relay PREFIX CMD...`` is the relay itself; the capture runs it as the remote command.
"""

from __future__ import annotations

import argparse
import os
import selectors
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAKERSH = str(HERE.parent / "e2e" / "fakersh")
RMTD = str(Path(sys.executable).with_name("rmtd"))
TAR_SPEC = "localhost:t.tap/nomount/norewind/nounload"
DUMP_SPEC = "localhost:dump.tap/nomount/norewind/nounload"

SESSIONS: dict[str, list[str]] = {
    "tar": ["tar-1-create", "tar-2-rewind", "tar-3-list"],
    "dump": ["dump-1-rdump", "dump-2-rewind", "dump-3-restore"],
}
"""Each session's transcripts, in the order they were captured and are replayed."""


# -- the relay --------------------------------------------------------------------------------


def relay(prefix: str, command: Sequence[str]) -> int:
    """Run ``command``, copy stdin to it and its stdout to ours, recording both directions.

    Returns:
        The command's exit status.
    """
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    to_server, from_server = child.stdin.fileno(), child.stdout.fileno()
    with open(prefix + ".client", "wb") as client_log, open(prefix + ".server", "wb") as server_log:
        sel = selectors.DefaultSelector()
        sel.register(0, selectors.EVENT_READ)
        sel.register(from_server, selectors.EVENT_READ)
        server_open = True
        while server_open:
            for key, _ in sel.select():
                data = os.read(key.fd, 1 << 20)
                if key.fd == 0:
                    if not data:
                        sel.unregister(0)
                        child.stdin.close()  # the client hung up: so does the server's input
                        continue
                    client_log.write(data)
                    _write_all(to_server, data)
                else:
                    if not data:
                        server_open = False
                        break
                    server_log.write(data)
                    _write_all(1, data)
    child.stdout.close()
    return child.wait()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# -- the capture ------------------------------------------------------------------------------


def run_client(out: Path, name: str, root: Path, argv: Sequence[str], cwd: Path) -> str:
    """Run one client with its remote shell starting the relay, recording ``out/name.*``.

    Returns:
        The client's standard output.
    """
    relay_cmd = [sys.executable, str(Path(__file__).resolve()), "relay", str(out / name)]
    server = shlex.join([*relay_cmd, RMTD, "--root", str(root)])
    env = {**os.environ, "SERVER": server, "RSH": FAKERSH, "TZ": "UTC", "LC_ALL": "C"}
    done = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name}: {argv[0]} failed ({done.returncode}): {done.stderr!r}")
    for suffix in (".client", ".server"):
        (out / (name + suffix)).chmod(0o644)  # restore runs with umask 077
    return done.stdout.decode(errors="replace")


def expect(listing: str, names: Sequence[str]) -> None:
    """Fail the capture unless every name appears in a client's listing."""
    missing = [name for name in names if name not in listing.split()]
    if missing:
        raise SystemExit(f"listing lacks {missing}: {listing!r}")


def tar_session(out: Path, work: Path) -> None:
    """``tar -c`` of a small deterministic tree, ``mt rewind``, ``tar -t``."""
    root, src = work / "tar-root", work / "tar-src"
    root.mkdir()
    tree = src / "tree"
    (tree / "sub").mkdir(parents=True)
    files = {
        "tree/a.txt": b"alpha\n" * 20,
        "tree/b.bin": bytes(range(256)) * 4,
        "tree/sub/c.txt": b"gamma\n",
        "tree/sub/empty": b"",
    }
    for name, data in files.items():
        (src / name).write_bytes(data)
        (src / name).chmod(0o644)
    for directory in (tree, tree / "sub"):
        directory.chmod(0o755)
    fixed = ["--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "--sort=name"]
    rsh = [f"--rsh-command={FAKERSH}", "--rmt-command=rmtd"]
    run_client(out, "tar-1-create", root, ["tar", *rsh, *fixed, "-cf", TAR_SPEC, "tree"], src)
    mt = ["mt-gnu", f"--rsh-command={FAKERSH}", "-f", TAR_SPEC, "rewind"]
    run_client(out, "tar-2-rewind", root, mt, work)
    listing = run_client(out, "tar-3-list", root, ["tar", *rsh, "-tf", TAR_SPEC], work)
    expect(listing, ["tree/", "tree/sub/", *files])


@contextmanager
def loop_device(image: Path) -> Iterator[str]:
    """Attach ``image`` to a free loop device for the duration."""
    loop = subprocess.run(
        ["losetup", "-f", "--show", str(image)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        yield loop
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)


def dump_session(out: Path, work: Path) -> None:
    """``rdump -0`` of a tiny ext2 file system, ``mt rewind``, ``rrestore -t``."""
    root, src = work / "dump-root", work / "dump-src"
    root.mkdir()
    src.mkdir()
    (src / "hello.txt").write_bytes(b"hello, tape\n" * 10)
    (src / "zeros").write_bytes(bytes(3000))
    (src / "pattern.bin").write_bytes(bytes(range(251)) * 200)  # a few records of data
    image = work / "fs.img"
    env = {**os.environ, "E2FSPROGS_FAKE_TIME": "1"}
    subprocess.run(
        ["mke2fs", "-q", "-t", "ext2", "-N", "16", "-U", "clear", "-d", str(src), str(image), "1M"],
        check=True,
        capture_output=True,
        env=env,
    )
    with loop_device(image) as loop:
        run_client(out, "dump-1-rdump", root, ["rdump", "-0", "-f", DUMP_SPEC, loop], work)
    mt = ["mt-gnu", f"--rsh-command={FAKERSH}", "-f", DUMP_SPEC, "rewind"]
    run_client(out, "dump-2-rewind", root, mt, work)
    restore = ["rrestore", "-t", "-f", DUMP_SPEC]
    expect(
        run_client(out, "dump-3-restore", root, restore, work),
        ["./hello.txt", "./pattern.bin", "./zeros"],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Capture every session into ``--out`` (default: this directory), or run the relay."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="mode")
    relay_args = sub.add_parser("relay", help="record one connection (run by the capture)")
    relay_args.add_argument("prefix")
    relay_args.add_argument("command", nargs=argparse.REMAINDER)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--only", choices=sorted(SESSIONS), action="append")
    args = parser.parse_args(argv)
    if args.mode == "relay":
        return relay(args.prefix, args.command)
    with tempfile.TemporaryDirectory(prefix="rmtd-golden-") as tmp:
        work = Path(tmp)
        for session in args.only or sorted(SESSIONS):
            {"tar": tar_session, "dump": dump_session}[session](args.out, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
