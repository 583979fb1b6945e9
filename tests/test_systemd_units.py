"""The systemd units in contrib/systemd: their settings, and command lines rmtd's CLI accepts."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import click
import pytest

from rmtd import cli

UNITS = Path(__file__).parent.parent / "contrib" / "systemd"


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string((UNITS / name).read_text(), source=name)
    return parser


def test_the_socket_accepts_each_connection_on_514() -> None:
    socket = unit("rmtd.socket")
    assert socket["Socket"]["ListenStream"] == "127.0.0.1:514"  # the default host, loopback
    assert socket["Socket"]["Accept"] == "yes"
    assert socket["Install"]["WantedBy"] == "sockets.target"


def test_the_instance_service_runs_one_connection_on_stdin() -> None:
    service = unit("rmtd@.service")["Service"]
    assert service["StandardInput"] == "socket"
    assert service["StandardOutput"] == "socket"
    assert shlex.split(service["ExecStart"])[1:3] == ["listen", "--inetd"]


@pytest.mark.parametrize("name", ["rmtd@.service", "rmtd-listen.service"])
def test_each_service_audits_to_syslog(name: str) -> None:
    argv = shlex.split(unit(name)["Service"]["ExecStart"])
    assert argv[argv.index("--audit") + 1] == "syslog"


def test_the_socket_comment_says_systemd_refuses_beyond_max_connections() -> None:
    text = (UNITS / "rmtd.socket").read_text()
    assert "wait in the listen queue" not in text
    assert "systemd refuses" in text


def test_the_listener_service_runs_rmtd_listen() -> None:
    service = unit("rmtd-listen.service")["Service"]
    assert shlex.split(service["ExecStart"])[1] == "listen"
    assert service["KillSignal"] == "SIGTERM"


def parse(args: list[str]) -> None:
    """Parse ``args`` as rmtd's CLI would, down through subcommands, without running them."""
    command: click.Command = cli.main
    ctx: click.Context | None = None
    while isinstance(command, click.Group):
        at = next((i for i, arg in enumerate(args) if arg in command.commands), len(args))
        ctx = command.make_context("rmtd", args[:at], parent=ctx)
        if at == len(args):
            return
        command, args = command.commands[args[at]], args[at + 1 :]
    command.make_context(command.name or "rmtd", args, parent=ctx)


@pytest.mark.parametrize("name", ["rmtd@.service", "rmtd-listen.service"])
def test_each_exec_start_is_an_rmtd_command_line(name: str) -> None:
    argv = shlex.split(unit(name)["Service"]["ExecStart"])
    assert Path(argv[0]).name == "rmtd"
    if isinstance(cli.main, click.Group):
        parse(argv[1:])
    else:  # before `rmtd listen` is merged, rmtd is one command: its options still parse
        assert argv[1] == "listen"
        parse([a for a in argv[2:] if a.startswith("--config") or a.endswith(".toml")])
