"""``rmtd``: the RMT server on standard input and output, a drop-in for ``/etc/rmt``.

This is the composition root: it reads the configuration file (``--config``, else
``$RMTD_CONFIG``, else ``/etc/rmtd.toml`` when present), lets the command-line options win over
it, and builds the opener, the named drives and the session from the result.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys

import click

from devices.interface import DEFAULT_MAX_FILEMARKS, MAX_FILEMARKS_LIMIT
from rmtd import forced
from rmtd.access import AccessPolicy
from rmtd.audit import AuditLog
from rmtd.config import ConfigError, ServerConfig, read_config
from rmtd.drives import DriveStore
from rmtd.opener import DeviceOpener, OpenerConfig
from rmtd.protocol import DEFAULT_MAX_RECORD, MAX_RECORD_LIMIT, CommandParser
from rmtd.session import Session, SessionConfig
from rmtd.transports.stdio import serve

EXIT_CONFIG = 2
EXIT_REFUSED = 1


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rmtd", prog_name="rmtd")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="TOML configuration (default: $RMTD_CONFIG, else /etc/rmtd.toml if present).",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True),
    help="Resolve every device name inside this directory (wins over the config's root).",
)
@click.option("--read-only", is_flag=True, help="Refuse every open for writing.")
@click.option(
    "--max-record",
    type=click.IntRange(1, MAX_RECORD_LIMIT),
    help=f"Largest R/W count accepted.  [default: {DEFAULT_MAX_RECORD}]",
)
@click.option(
    "--max-filemarks",
    type=click.IntRange(1, MAX_FILEMARKS_LIMIT),
    help=f"Most filemarks one MTWEOF may write.  [default: {DEFAULT_MAX_FILEMARKS}]",
)
@click.option(
    "--lseek-order",
    type=click.Choice(["auto", "offset-first", "whence-first"]),
    help="How to read L's two arguments.  [default: auto]",
)
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False),
    help="Log to this file (default: standard error).",
)
@click.option("-v", "--verbose", count=True, help="Log more (-v: each open, -vv: debug).")
@click.option(
    "--user",
    help="The remote user an ssh forced command stands for (the access rules decide).",
)
@click.option(
    "--audit",
    "audit_target",
    metavar="FILE|syslog",
    help="Record connections, opens, closes and refusals, one JSON line each.",
)
@click.option(
    "-c",
    "login_command",
    hidden=True,
    help="Ignored: a login shell's '-c', as other rmt servers accept it.",
)
def main(
    config_file: str | None,
    root: str | None,
    read_only: bool,
    max_record: int | None,
    max_filemarks: int | None,
    lseek_order: str | None,
    log_file: str | None,
    verbose: int,
    user: str | None,
    audit_target: str | None,
    login_command: str | None,
) -> None:
    """Serve the RMT protocol on standard input and output."""
    refuse_setuid()
    try:
        config = read_config(config_file, os.environ)
        overrides = {
            "root": root,
            "max_record": max_record,
            "max_filemarks": max_filemarks,
            "lseek_order": lseek_order,
        }
        given = {key: value for key, value in overrides.items() if value is not None}
        config = dataclasses.replace(config, **given)  # type: ignore[arg-type]
        drives = DriveStore(config) if config.drives else None
    except ConfigError as exc:
        click.echo(f"rmtd: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    level = logging.WARNING - 10 * min(verbose, 2)
    try:
        handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    except OSError as exc:
        click.echo(f"rmtd: cannot log to {log_file}: {exc.strerror}", err=True)
        sys.exit(EXIT_CONFIG)
    logging.basicConfig(
        level=level,
        handlers=[handler],
        format="rmtd[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    opener_config = OpenerConfig(
        root=config.root,
        read_only=read_only,
        max_record=config.max_record,
        max_filemarks=config.max_filemarks,
        state_dir=config.state_path,
        defaults=config.defaults,
    )
    audit = open_audit(audit_target)
    try:
        grant = forced.admit(access_policy(config), user, os.environ, audit)
        answered = forced.screen(os.environ, audit)
    except forced.RefusedError as exc:
        click.echo(f"rmtd: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    if answered is not None:
        sys.exit(answered)
    opener = DeviceOpener(opener_config, drives, grant)
    session = Session(opener.open, SessionConfig(lseek_order=config.lseek_order), audit)
    parser = CommandParser(max_record=config.max_record)
    status = serve(session, parser)
    audit.event("disconnect")
    sys.exit(status)


def refuse_setuid() -> None:
    """Exit 2 with a one-line message when rmtd runs set-uid (real and effective uid differ)."""
    refusal = forced.setuid_refusal(os.getuid(), os.geteuid())
    if refusal is not None:
        click.echo(f"rmtd: {refusal}", err=True)
        sys.exit(EXIT_CONFIG)


def open_audit(target: str | None) -> AuditLog:
    """The audit log ``--audit`` names; exit 2 with a message when it cannot be opened."""
    try:
        return AuditLog.to(target)
    except OSError as exc:
        click.echo(f"rmtd: cannot open the audit log {target}: {exc.strerror}", err=True)
        sys.exit(EXIT_CONFIG)


def access_policy(config: ServerConfig) -> AccessPolicy:
    """The access policy of ``config``: its ``[access]`` table, else open to all."""
    if config.access is None:
        return AccessPolicy.open_to_all()
    return AccessPolicy(config.access)
