"""``rmtd``: the RMT server on standard input and output, a drop-in for ``/etc/rmt``.

This is the composition root: it reads the configuration file (``--config``, else
``$RMTD_CONFIG``, else ``/etc/rmtd.toml`` when present), lets the command-line options win over
it, and builds the opener, the named drives and the session from the result
(:mod:`rmtd.compose`).

``rmtd`` is a command group whose default, with no subcommand, is the stdio server exactly as
``/etc/rmt`` is started (``rmtd --root X``, a login shell's ``rmtd -c ...``); ``rmtd listen``
serves the rsh protocol on TCP (:mod:`rmtd.listen`). Every mode refuses to run set-uid: a
set-uid rmt is a known root hole (any user could read and write any file through it).
"""

from __future__ import annotations

import os
import sys

import click

from devices.durability import SyncLevel
from devices.interface import DEFAULT_MAX_FILEMARKS, MAX_FILEMARKS_LIMIT
from rmtd import forced
from rmtd.compose import (
    EXIT_CONFIG,
    audit_option,
    build_session,
    config_option,
    load_server_config,
    log_option,
    open_audit,
    policy_of,
    read_only_option,
    root_option,
    settle_heap,
    setup_logging,
)
from rmtd.config import SYNC_CHOICES, ConfigError
from rmtd.protocol import DEFAULT_MAX_RECORD, MAX_RECORD_LIMIT
from rmtd.transports.stdio import serve

EXIT_REFUSED = 1


def refuse_setuid() -> None:
    """Exit 2 with a one-line message when rmtd runs set-uid or set-gid.

    Set-uid, rmtd would open files with the owner's rights for whoever runs it.
    """
    refusal = forced.setuid_refusal(os.getuid(), os.geteuid())
    if refusal is None and os.getgid() != os.getegid():
        refusal = f"refusing to run set-gid (real gid {os.getgid()}, effective {os.getegid()})"
    if refusal is not None:
        click.echo(f"rmtd: {refusal}", err=True)
        sys.exit(EXIT_CONFIG)


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="rmtd", prog_name="rmtd")
@config_option
@root_option
@read_only_option
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
    "--sync",
    type=click.Choice(SYNC_CHOICES),
    help="Which replies wait for written data to reach the disk: the close (every level), "
    "also each filemark, or also each record.  [default: close]",
)
@click.option(
    "--lseek-order",
    type=click.Choice(["auto", "offset-first", "whence-first"]),
    help="How to read L's two arguments.  [default: auto]",
)
@log_option
@click.option("-v", "--verbose", count=True, help="Log more (-v: each open, -vv: debug).")
@click.option(
    "--user",
    help="The remote user an ssh forced command stands for (the access rules decide).",
)
@audit_option
@click.option(
    "-c",
    "login_command",
    hidden=True,
    help="Ignored: a login shell's '-c', as other rmt servers accept it.",
)
@click.pass_context
def main(
    ctx: click.Context,
    config_file: str | None,
    root: str | None,
    read_only: bool,
    max_record: int | None,
    max_filemarks: int | None,
    sync: str | None,
    lseek_order: str | None,
    log_file: str | None,
    verbose: int,
    user: str | None,
    audit_target: str | None,
    login_command: str | None,
) -> None:
    """Serve the RMT protocol on standard input and output (no subcommand), or run one."""
    refuse_setuid()
    if ctx.invoked_subcommand is not None:
        return  # the subcommand takes its own options
    try:
        overrides = {
            "root": root,
            "max_record": max_record,
            "max_filemarks": max_filemarks,
            "sync": SyncLevel(sync) if sync is not None else None,
            "lseek_order": lseek_order,
        }
        config, drives = load_server_config(config_file, overrides)
    except ConfigError as exc:
        click.echo(f"rmtd: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    try:
        setup_logging(verbose, log_file)
    except OSError as exc:
        click.echo(f"rmtd: cannot log to {log_file}: {exc.strerror}", err=True)
        sys.exit(EXIT_CONFIG)
    audit = open_audit(audit_target)
    try:
        grant = forced.admit(policy_of(config), user, os.environ, audit)
        answered = forced.screen(os.environ, audit)
    except forced.RefusedError as exc:
        click.echo(f"rmtd: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    if answered is not None:
        sys.exit(answered)
    session, parser = build_session(config, drives, read_only, grant, audit)
    settle_heap()
    status = serve(session, parser)
    audit.event("disconnect")
    sys.exit(status)


from rmtd.access_cli import access  # noqa: E402 (after main, which they join)
from rmtd.listen import listen  # noqa: E402

main.add_command(listen)
main.add_command(access)
