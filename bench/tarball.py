r"""The GNU tar rows of ``python -m bench``: what a user sees, ``tar -b 128`` through each server.

A tree of files of mixed sizes (bytes from a seeded ``random.Random``, so nothing compresses
and every run has the same tree) is made once per run. Each round, for every server in turn,
``tar -b 128 -cf localhost:PATH`` archives it through the server and ``tar -b 128 -xOf
localhost:PATH`` reads it back into ``/dev/null``. GNU tar reaches the server as it would on
another host: ``--rsh-command`` is a script that drops the host (and ``-l USER``) and runs
the command it is given, ``--rmt-command`` the server (tar's ``rtapelib.c`` runs ``RSH HOST
RMT-COMMAND``). MB/s is the tree's file bytes over the whole tar command's time.

The server is the child tar forks for the remote shell (the script ``exec``\ s it), so its
peak RSS is sampled from a thread while tar runs: ``VmHWM`` of tar's children whose command
line is the server's, every :data:`SAMPLE_EVERY` seconds (``VmHWM`` only grows, so a late
sample also holds the early peak; only the last instants may be missed).
"""

from __future__ import annotations

import os
import random
import shlex
import subprocess
import threading
import time
from pathlib import Path

from bench.rounds import Results, Samples, Server, fresh, peak_kib

BLOCKING = "128"
SAMPLE_EVERY = 0.02
SEED = 8
SHELLS = ("sh", "dash", "bash")

FAKE_RSH = """\
#!/bin/sh
# rsh HOST [-l USER] COMMAND: drop the host and user, run COMMAND as a remote shell would.
shift
[ "$1" = "-l" ] && shift 2
exec sh -c "exec $*"
"""

# File sizes: many small files, some medium, a few large (bytes, upper bounds included).
SIZE_CLASSES = ((0.6, 512, 64 << 10), (0.3, 64 << 10, 2 << 20), (0.1, 2 << 20, 32 << 20))


def make_tree(top: str, total: int, seed: int = SEED) -> int:
    """Write files of mixed sizes under ``top`` until they hold ``total`` bytes; the bytes."""
    rng = random.Random(seed)
    written = 0
    count = 0
    while written < total:
        pick = rng.random()
        low, high = SIZE_CLASSES[-1][1:]
        for share, low_bound, high_bound in SIZE_CLASSES:
            if pick < share:
                low, high = low_bound, high_bound
                break
            pick -= share
        size = min(rng.randint(low, high), total - written)
        directory = os.path.join(top, f"d{count // 100:03d}")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"f{count:05d}"), "wb") as out:
            out.write(rng.randbytes(size))
        written += size
        count += 1
    return written


class _Sampler(threading.Thread):
    """Samples the peak RSS of the children of ``parent`` that run ``program``."""

    def __init__(self, parent: int, program: str) -> None:
        super().__init__(daemon=True)
        self.parent = parent
        self.program = program
        self.peak = 0
        self.done = threading.Event()

    def _is_server(self, pid: str) -> bool:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                args = cmdline.read().split(b"\0")
        except OSError:
            return False
        # The script and "sh -c" before their exec name the server too: skip shells.
        return os.path.basename(args[0]).decode() not in SHELLS and (self.program.encode() in args)

    def run(self) -> None:
        """Sample until :attr:`done` is set."""
        children = f"/proc/{self.parent}/task/{self.parent}/children"
        while not self.done.wait(SAMPLE_EVERY):
            try:
                with open(children) as listing:
                    pids = listing.read().split()
            except OSError:
                continue
            for pid in pids:
                if self._is_server(pid):
                    self.peak = max(self.peak, peak_kib(int(pid)))


def _tar(args: list[str], server: Server, rsh: str, workdir: str) -> tuple[float, int]:
    """Run tar with ``args`` through ``server``; (seconds, server peak RSS in KiB, 0: none)."""
    argv = ["tar", "-b", BLOCKING, f"--rsh-command={rsh}"]
    argv += [f"--rmt-command={shlex.join(server.argv)}", *args]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = _Sampler(proc.pid, server.argv[0])
    sampler.start()
    _, err = proc.communicate(timeout=600)
    spent = time.perf_counter() - start
    sampler.done.set()
    sampler.join()
    if proc.returncode != 0:
        raise OSError(f"{server.name}: {shlex.join(argv)} failed: {err.decode().strip()}")
    return spent, sampler.peak


class TarBench:
    """The tree and the fake rsh, made once per run in ``workdir``.

    Args:
        workdir: the run's directory.
        total: bytes of file data in the tree.
    """

    def __init__(self, workdir: str, total: int) -> None:
        self.workdir = workdir
        self.rsh = os.path.join(workdir, "fakersh")
        Path(self.rsh).write_text(FAKE_RSH)
        os.chmod(self.rsh, 0o755)
        self.bytes = make_tree(os.path.join(workdir, "tree"), total)

    def round(self, found: list[Server], results: Results) -> None:
        """Archive the tree through every server in turn, then read it back; add the rows."""
        for server in found:
            fresh(server)
            # Every server starts with no other server's dirty pages to write back: without
            # this, the later servers of a round pay for the earlier ones' writes.
            os.sync()
            remote = f"localhost:{server.target}"
            steps = (("c", ["-cf", remote, "tree"]), ("x", ["-xOf", remote]))
            for step, args in steps:
                spent, rss = _tar(args, server, self.rsh, self.workdir)
                label = f"tar {step} -b {BLOCKING}"
                samples = results.setdefault((label, server.name), Samples())
                samples.add(self.bytes / spent / 1e6, None, rss)


TAR_ROWS = [f"tar {step} -b {BLOCKING}" for step in ("c", "x")]
"""The labels of the tar rows, in table order."""
