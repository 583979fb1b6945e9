"""``vmt`` commands for the named drives of rmtd's configuration: drives, load, unload, requests."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable

import click

from rmtd.config import ConfigError, default_config_path, read_config
from rmtd.drives import DriveStore, OperatorRequest
from rmtd.mtops import OPERATIONS, looks_like_count
from rmtd.vmt.app import EXIT_ERROR, errors_exit, main, run_mt


def _config_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add ``--config`` and ``--root`` (as rmtd takes them) to a drive command."""
    command = click.option(
        "--root",
        type=click.Path(file_okay=False, exists=True),
        help="The served directory, if rmtd is given --root (wins over the config's root).",
    )(command)
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        help="rmtd's configuration (default: $RMTD_CONFIG, else /etc/rmtd.toml if present).",
    )(command)


def _store(config_file: str | None, root: str | None) -> DriveStore:
    """The named drives of the configuration; exits 2 without one, 1 if it is unusable."""
    if not (config_file or default_config_path(os.environ)):
        raise click.UsageError("no configuration: use --config FILE or set RMTD_CONFIG")
    try:
        config = read_config(config_file, os.environ)
        if root is not None:
            config = dataclasses.replace(config, root=root)
        if not config.drives:
            raise ConfigError(f"{config.source}: no named drives ([drives.NAME] tables)")
        return DriveStore(config)
    except ConfigError as exc:
        click.echo(f"vmt: {exc}", err=True)
        sys.exit(EXIT_ERROR)


def _mt_or_drive(ctx: click.Context, word: str, args: tuple[str, ...], drive_args: int) -> bool:
    """Run mt's ``load``/``unload`` if ``args`` are an mt count (or none); say if it did."""
    if len(args) == drive_args and not (drive_args == 1 and looks_like_count(args[0])):
        return False
    usage = f"vmt {word} DRIVE{' IMAGE' if word == 'load' else ''}, or vmt -f DEVICE {word}"
    if len(args) > 1 or (args and not looks_like_count(args[0])):
        raise click.UsageError(f"usage: {usage} [COUNT]")
    operation = next(o for o in OPERATIONS if o.name == word)
    run_mt(ctx, operation, args[0] if args else None)
    return True


@main.command("load")
@click.argument("args", nargs=-1, metavar="[DRIVE IMAGE | COUNT]")
@_config_options
@click.pass_context
def load_command(
    ctx: click.Context, args: tuple[str, ...], config_file: str | None, root: str | None
) -> None:
    """Load IMAGE (a name in the root) into named DRIVE; without them, mt's load on -f DEVICE."""
    if config_file is None and _mt_or_drive(ctx, "load", args, 2):
        return
    if len(args) != 2:
        raise click.UsageError("usage: vmt load DRIVE IMAGE")
    store = _store(config_file, root)
    with errors_exit(""):  # the messages name the drive or the volume
        drive, volume = store.load(args[0], args[1])
    click.echo(f"{drive.name}: loaded {volume}")


@main.command("unload")
@click.argument("args", nargs=-1, metavar="[DRIVE | COUNT]")
@_config_options
@click.pass_context
def unload_command(
    ctx: click.Context, args: tuple[str, ...], config_file: str | None, root: str | None
) -> None:
    """Unload named DRIVE (its volume is rewound); without it, mt's unload on -f DEVICE."""
    if config_file is None and _mt_or_drive(ctx, "unload", args, 1):
        return
    if len(args) != 1:
        raise click.UsageError("usage: vmt unload DRIVE")
    store = _store(config_file, root)
    with errors_exit(""):  # the messages name the drive or the volume
        drive, volume = store.unload(args[0])
    click.echo(f"{drive.name}: unloaded {volume}")


@main.command("drives")
@_config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def drives_command(config_file: str | None, root: str | None, as_json: bool) -> None:
    """List the named drives: volume loaded (or empty), default qualifiers, pending request."""
    store = _store(config_file, root)
    pending = {r.drive: r for r in store.requests()}
    rows = []
    for drive in store.config.drives:
        request = pending.get(drive.name)
        rows.append(
            {
                "drive": drive.name,
                "device": drive.device,
                "image": None if drive.device else store.loaded(drive),
                "qualifiers": drive.qualifier_text,
                "request": request.as_dict() if request else None,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = [
        [
            str(row["drive"]),
            f"{row['device']} (real drive)" if row["device"] else str(row["image"] or "(empty)"),
            str(row["qualifiers"] or "-"),
            _describe_request(pending[drive.name]) if drive.name in pending else "",
        ]
        for row, drive in zip(rows, store.config.drives, strict=True)
    ]
    widths = [max(len(cells[i]) for cells in table) for i in range(3)]
    for cells in table:
        line = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False))
        click.echo(f"{line}  {cells[3]}".rstrip())


@main.command("requests")
@_config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def requests_command(config_file: str | None, root: str | None, as_json: bool) -> None:
    """List pending operator requests: /ASSIST opens waiting for a volume (oldest first)."""
    requests = _store(config_file, root).requests()
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in requests], indent=2))
        return
    for request in requests:
        click.echo(f"{request.drive}: {_describe_request(request)}")


def _describe_request(request: OperatorRequest) -> str:
    waited = max(0, int(time.time() - request.since))
    comment = f'"{request.comment}"' if request.comment else "no comment"
    return f"request: load a volume ({comment}; pid {request.pid}, waiting {waited} s)"
