"""``rmtd``: the RMT server on standard input and output, a drop-in for ``/etc/rmt``."""

from __future__ import annotations

import logging
import sys

import click

from rmtd.opener import DeviceOpener, OpenerConfig
from rmtd.protocol import CommandParser
from rmtd.session import Session, SessionConfig
from rmtd.transports.stdio import serve


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True),
    help="Resolve every device name inside this directory.",
)
@click.option("--read-only", is_flag=True, help="Refuse every open for writing.")
@click.option(
    "--max-record",
    type=click.IntRange(1, (1 << 31) - 1),
    default=0xFFFFFF,
    show_default=True,
    help="Largest R/W count accepted.",
)
@click.option(
    "--lseek-order",
    type=click.Choice(["auto", "offset-first", "whence-first"]),
    default="auto",
    show_default=True,
    help="How to read L's two arguments.",
)
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False),
    help="Log to this file (default: standard error).",
)
@click.option("-v", "--verbose", count=True, help="Log more (-v: each open, -vv: debug).")
@click.option(
    "-c",
    "login_command",
    hidden=True,
    help="Ignored: a login shell's '-c', as other rmt servers accept it.",
)
def main(
    root: str | None,
    read_only: bool,
    max_record: int,
    lseek_order: str,
    log_file: str | None,
    verbose: int,
    login_command: str | None,
) -> None:
    """Serve the RMT protocol on standard input and output."""
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    logging.basicConfig(
        level=level,
        handlers=[handler],
        format="rmtd[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    opener = DeviceOpener(OpenerConfig(root=root, read_only=read_only, max_record=max_record))
    session = Session(opener.open, SessionConfig(lseek_order=lseek_order))  # type: ignore[arg-type]
    parser = CommandParser(max_record=max_record)
    sys.exit(serve(session, parser))
