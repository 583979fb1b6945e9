r"""The loopback TCP rows of ``python -m bench``: the rsh protocol, as ``rcmd(3)`` speaks it.

A session connects from a reserved port (512-1023, ``rresvport(3)``: rsh's proof of being root
on the client), sends the handshake ``0\0root\0root\0/etc/rmt\0`` (no stderr channel, client
user, server user, command; see rmtd/protocol/rcmd.py) and reads the ``\0`` that admits it.

rmtd is reached through one ``rmtd listen`` for the whole run, with a minimal ``[access]``
table written into the run's directory (``rmtd listen`` refuses to start without one, and a
session as root needs a rule naming root, rmtd/transports/rsh.py ``become``). The C servers
have no listener of their own: :class:`Acceptor` plays inetd and rshd, accepting a connection,
reading the same handshake, answering ``\0`` and starting the server with the socket as its
stdin and stdout. It accepts in the client's own process, between the client's connect and
its wait for the ``\0``, so no thread of the bench runs beside the client while the records
are timed.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.rounds import Server, peak_kib
from bench.throughput import Wire

HANDSHAKE = b"0\0root\0root\0/etc/rmt\0"
RESERVED = range(1023, 511, -1)

ACCESS = """\
[access]
[[access.proxy]]
remote_host = "127.0.0.0/8"
remote_user = "root"
local_user = "root"
devices = ["*", "*/*"]
mode = "read-write"
"""
"""Root on loopback may act as root on every name inside the root (the bench runs as root)."""


class _Ports:
    """Reserved source ports, handed out in turn.

    In turn, so that a port just closed (in ``TIME_WAIT`` towards the same server, which
    refuses a connect from it) is not the next one tried.
    """

    def __init__(self) -> None:
        self._next = 0
        self._pid = os.getpid()

    def connect(self, port: int) -> socket.socket:
        """A connection to 127.0.0.1:``port`` from a free reserved port."""
        if os.getpid() != self._pid:
            # A process forked for a concurrent session: start where its siblings do not.
            self._pid = os.getpid()
            self._next = self._pid * 37
        for _ in RESERVED:
            source = RESERVED[self._next % len(RESERVED)]
            self._next += 1
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", source))
                sock.connect(("127.0.0.1", port))
            except OSError as exc:
                sock.close()
                if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                    continue
                raise
            # The client's side of stop-and-wait: a record's tail must not wait for the ACK
            # of its head (Nagle against the server's delayed ACK, RFC 1122 4.2.3.4).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        raise OSError(errno.EAGAIN, "no reserved port free")


PORTS = _Ports()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on just now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def admitted(sock: socket.socket) -> None:
    r"""Read the server's answer to the handshake: ``\0``, or raise with its refusal."""
    first = sock.recv(1)
    if first != b"\0":
        raise OSError(f"refused: {first + sock.recv(512)!r}")


class SocketClient(Wire):
    """A stop-and-wait session on a TCP connection, ending with the server's peak RSS.

    Args:
        sock: the admitted connection.
        pid: the server process serving it.
        proc: that process, when this process started it (it is then reaped at the end).
    """

    def __init__(self, sock: socket.socket, pid: int, proc: subprocess.Popen[bytes] | None) -> None:
        super().__init__(sock.fileno(), sock.fileno())
        self.sock = sock
        self.pid = pid
        self.proc = proc
        self.peak_kib = 0

    def sample_peak(self) -> None:
        """Note the server's peak RSS so far (``VmHWM``, see ``bench.rounds.peak_kib``)."""
        self.peak_kib = max(self.peak_kib, peak_kib(self.pid))

    def finish(self) -> int:
        """Close the connection (and reap a server started here); its peak RSS in KiB."""
        self.sock.close()
        if self.proc is not None:
            self.proc.wait(timeout=30)
        return self.peak_kib


def _socket_inode(local_port: int, remote_port: int) -> str | None:
    """The inode of the loopback socket from ``local_port`` to ``remote_port`` (/proc/net/tcp)."""
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
            if int(local, 16) == local_port and int(remote, 16) == remote_port:
                return fields[9]
    return None


def _holder(inode: str, parent: int | None, program: str | None) -> int:
    """The process holding socket ``inode`` (0: none found).

    Only children of ``parent`` are looked at when it is given, and only processes running
    ``program`` when that is given: the process that accepted a connection for a C server
    holds it too, for a moment, and is no server.
    """
    if parent is None:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    else:
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as listing:
                pids = [int(pid) for pid in listing.read().split()]
        except OSError:
            return 0
    wanted = f"socket:[{inode}]"
    for pid in pids:
        try:
            if program is not None and os.readlink(f"/proc/{pid}/exe") != program:
                continue
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == wanted for fd in fds):
                return pid
        except OSError:
            continue
    return 0


def server_pid(sock: socket.socket, parent: int | None, program: str | None = None) -> int:
    """The server process on the far end of loopback connection ``sock`` (0: not found).

    Args:
        sock: the client's end.
        parent: the server is a child of this process (``None``: of any).
        program: the server runs this executable (its real path; ``None``: any).
    """
    inode = _socket_inode(sock.getpeername()[1], sock.getsockname()[1])
    return _holder(inode, parent, program) if inode else 0


class Listen:
    """One ``rmtd listen`` on 127.0.0.1 serving ``workdir``, for the whole run.

    Args:
        workdir: its ``--root``; the access table and the log go there too.
    """

    def __init__(self, workdir: str) -> None:
        config = os.path.join(workdir, "rmtd-listen.toml")
        Path(config).write_text(ACCESS)
        log = os.path.join(workdir, "rmtd-listen.log")
        self.port = free_port()
        rmtd = str(Path(sys.executable).with_name("rmtd"))
        argv = [rmtd, "listen", "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--root", workdir, "--config", config, "--log", log]
        self.proc = subprocess.Popen(argv)
        # Started when its own log says so: a connect alone could reach another program.
        mine = f"(pid {self.proc.pid})"
        deadline = time.monotonic() + 60
        while not (os.path.exists(log) and mine in Path(log).read_text()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = Path(log).read_text() if os.path.exists(log) else ""
                raise OSError(f"rmtd listen did not start: {text}")
            time.sleep(0.05)

    def connect(self, argv: list[str]) -> SocketClient:
        """An admitted session (``argv`` is unused: the listener runs rmtd itself)."""
        del argv
        sock = PORTS.connect(self.port)
        sock.sendall(HANDSHAKE)
        admitted(sock)
        return SocketClient(sock, server_pid(sock, self.proc.pid), None)

    def stop(self) -> None:
        """SIGTERM, and wait for it (it waits for its sessions)."""
        self.proc.terminate()
        self.proc.wait(timeout=60)


class Acceptor:
    """inetd and rshd for the C servers: a listening socket, served one connection at a time.

    Concurrent sessions (bench/parallel.py) each run :meth:`connect` in a process of their
    own, on the listening socket they inherit: each accepts one connection, perhaps another
    session's (every session has sent its handshake before it accepts, so none waits for
    another), and the server on a session's own connection is found by its socket.
    """

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]

    def connect(self, argv: list[str]) -> SocketClient:
        """Connect, accept, read the handshake, answer it and start ``argv`` on the socket."""
        sock = PORTS.connect(self.port)
        sock.sendall(HANDSHAKE)
        conn, peer = self.sock.accept()
        with conn:
            got = b""
            while got.count(b"\0") < 4:
                chunk = conn.recv(1024)
                if not chunk:
                    raise EOFError("the client went away during the handshake")
                got += chunk
            proc = subprocess.Popen(argv, stdin=conn.fileno(), stdout=conn.fileno())
            # After the exec (Popen waits for it), so that the client, once admitted, finds
            # the server itself on the connection.
            conn.sendall(b"\0")
        admitted(sock)
        if peer == sock.getsockname():
            mine = proc.pid
        else:
            mine = server_pid(sock, None, os.path.realpath(argv[0]))
        return SocketClient(sock, mine, proc)

    def close(self) -> None:
        """Stop listening."""
        self.sock.close()


def tcp_servers(found: list[Server], listen: Listen, acceptor: Acceptor) -> list[Server]:
    """The same servers and targets, reached over TCP.

    rmtd through ``listen``, the C servers through ``acceptor``.
    """
    rows = []
    for server in found:
        via = listen if server.name.startswith("rmtd") else acceptor
        rows.append(Server(server.name, server.argv, server.target, server.fresh, via.connect))
    return rows
