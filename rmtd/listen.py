"""``rmtd listen``: serve the rsh protocol on TCP, one process per session.

The options for the server (``--config``, ``--root``, ``--read-only``, ``--log``, ``-v``) mean
what they mean in stdio mode; the configuration's ``[access]`` table, when there is one, decides
who may connect and what each may open.
"""

from __future__ import annotations

import os
import socket
import sys

import click

from rmtd.compose import (
    EXIT_CONFIG,
    audit_option,
    config_option,
    load_server_config,
    log_option,
    open_audit,
    policy_of,
    read_only_option,
    root_option,
    setup_logging,
    verify_stores,
)
from rmtd.config import ConfigError
from rmtd.transports.inetd import serve_connection
from rmtd.transports.listener import Listener, ListenError, ListenerSettings, bind
from rmtd.transports.rsh import SessionSettings, run_session


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=514, show_default=True)
@config_option
@root_option
@read_only_option
@click.option(
    "--max-sessions",
    type=click.IntRange(1, 100000),
    default=256,
    show_default=True,
    help="Most sessions (and handshakes in progress) at once; more are refused.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(0.001, 86400),
    default=600.0,
    show_default=True,
    help="Seconds without a request before a session closes its device and ends.",
)
@click.option(
    "--handshake-timeout",
    type=click.FloatRange(0.001, 3600),
    default=30.0,
    show_default=True,
    help="Seconds a client has to send its rsh handshake.",
)
@log_option
@click.option(
    "--inetd",
    is_flag=True,
    help="Serve the one connection on standard input (systemd Accept=yes, inetd).",
)
@audit_option
@click.option("-v", "--verbose", count=True, help="Log more (-v: each session, -vv: debug).")
def listen(
    host: str,
    port: int,
    config_file: str | None,
    root: str | None,
    read_only: bool,
    max_sessions: int,
    idle_timeout: float,
    handshake_timeout: float,
    log_file: str | None,
    inetd: bool,
    audit_target: str | None,
    verbose: int,
) -> None:
    """Serve RMT over the rsh protocol on HOST:PORT (each session in its own process)."""
    try:
        # Absolute: sessions must not depend on a working directory.
        given_root = os.path.abspath(root) if root is not None else None
        config, drives = load_server_config(config_file, {"root": given_root})
    except ConfigError as exc:
        click.echo(f"rmtd: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    try:
        setup_logging(verbose, log_file)
    except OSError as exc:
        click.echo(f"rmtd: cannot log to {log_file}: {exc.strerror}", err=True)
        sys.exit(EXIT_CONFIG)
    if config.access is None:
        click.echo(
            "rmtd: rmtd listen needs an [access] table in its configuration (who may connect, "
            "as whom, to which devices): without one it would serve every file to anyone who "
            "reaches the port; see 'rmtd access add'",
            err=True,
        )
        sys.exit(EXIT_CONFIG)
    try:
        verify_stores(config)  # a listener runs for long: refuse a store it cannot use now
    except ConfigError as exc:
        click.echo(f"rmtd: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    audit = open_audit(audit_target)
    session = SessionSettings(config, drives, read_only, policy_of(config), idle_timeout, audit)
    if inetd:
        conn = socket.socket(fileno=sys.stdin.fileno())
        sys.exit(serve_connection(conn, session, handshake_timeout))
    try:
        sock = bind(host, port)
    except ListenError as exc:
        click.echo(f"rmtd: {exc}", err=True)
        sys.exit(1)
    listener = Listener(
        sock,
        ListenerSettings(max_sessions, handshake_timeout),
        lambda conn, handshake, rest, back: run_session(conn, handshake, rest, back, session),
        policy=session.policy,
        audit=audit,
    )
    sys.exit(listener.run())
