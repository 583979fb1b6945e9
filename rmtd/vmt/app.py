"""``vmt``'s command group and mt's operations, on a local image or a remote drive.

``vmt -f DEVICE OPERATION [COUNT]`` takes mt's operations and spellings and prints ``status``
as mt-st does, so that scripts written for a real drive work on an image. A DEVICE of the form
``[user@]host:NAME`` is reached over RMT, through ``--rsh-command`` (default ``$RSH``, else
``ssh``) running ``--rmt-command`` on the host, as GNU mt does.

Errors are one line on stderr and exit status 1; usage errors exit with 2, as mt does, also
in one line. A reader that goes away (``vmt read ... | head -c 1``) ends vmt silently with status
141, what the shell reports for GNU ``cat`` killed by SIGPIPE in the same place.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import click

from devices.drive import VirtualTapeDrive
from devices.errors import describe
from devices.interface import DriveStatus, GeneralStatus, OpenOptions, TapeDevice
from devices.kinds import DeviceKind, describe_content, kind_by_name
from devices.vtape import open_tape_image
from rmtd.client import DEFAULT_RMT_COMMAND, RemoteTape, parse_remote
from rmtd.devspec import parse_device_spec, parse_qualifiers
from rmtd.mtops import (
    MtOperation,
    format_status,
    parse_count,
    resolve_operation,
    status_dict,
)
from rmtd.opener import DeviceOpener, OpenerConfig
from rmtd.vmt.stored import is_store_url, open_stored, refuse_stored

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
"""128 + SIGINT, what the shell reports for a program Ctrl-C stopped."""
EXIT_PIPE = 141
"""128 + SIGPIPE, what the shell reports for GNU tools writing to a reader that went away."""


class StdoutClosedError(Exception):
    """Standard output's reader went away (EPIPE); vmt ends silently with :data:`EXIT_PIPE`."""


def emit(text: str, nl: bool = True) -> None:
    """Print ``text`` on standard output; raises :class:`StdoutClosedError` on EPIPE."""
    try:
        click.echo(text, nl=nl)
        sys.stdout.flush()
    except BrokenPipeError:
        raise StdoutClosedError from None


@dataclass(frozen=True, slots=True)
class Target:
    """Where mt operations go: ``-f``'s device, and how to reach a remote one.

    Attributes:
        device: ``-f``'s device spec (``$TAPE``).
        rsh_command: how to reach a remote host.
        rmt_command: the RMT server to run there.
        force: treat a local file as a SIMH tape image whatever its name and bytes say.
    """

    device: str | None
    rsh_command: str
    rmt_command: str
    force: bool = False


LOCAL_DEFAULTS = parse_qualifiers("/nomount/norewind/nounload")
"""Qualifiers of a local device before ``-f``'s own: a drive keeps its tape and position
between commands, as ``/dev/nst0`` does for mt."""


class VmtGroup(click.Group):
    """The image tools as subcommands; any other word is an mt operation.

    Every error ends in one line on standard error: click's usage errors too (exit 2).
    """

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> None:
        """Run vmt; turn usage errors, Ctrl-C and a closed standard output into exit codes."""
        # The devices log what they notice (a torn tail cut on a write open): one line each.
        logging.basicConfig(level=logging.WARNING, format="vmt: %(message)s")
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.ClickException as exc:
            message = exc.format_message()
            if "\n" in message:  # "vmt" alone: the help, as click shows it
                exc.show()
            else:
                click.echo(f"vmt: {message}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:  # Ctrl-C outside of a write: nothing is half done
            sys.exit(EXIT_INTERRUPTED)
        except (StdoutClosedError, BrokenPipeError):
            _silence_stdout()
            sys.exit(EXIT_PIPE)
        sys.exit(code if isinstance(code, int) else 0)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return a subcommand, else a command for the mt operation the word names."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        operation = resolve_operation(cmd_name)
        if isinstance(operation, str):
            ctx.fail(operation)
        return _operation_command(operation)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Resolve as click does, keeping the full operation name for abbreviations."""
        _name, command, rest = super().resolve_command(ctx, args)
        return command.name if command else None, command, rest


@click.group(cls=VmtGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rmtd", prog_name="vmt")
@click.option(
    "-f",
    "-t",
    "--file",
    "device",
    envvar="TAPE",
    metavar="DEVICE",
    help="The tape image, or [user@]host:DEVICE for a remote drive (default: $TAPE).",
)
@click.option(
    "--rsh-command",
    envvar="RSH",
    default="ssh",
    show_default=True,
    metavar="COMMAND",
    help="How to reach a remote host (default: $RSH, else ssh).",
)
@click.option(
    "--rmt-command",
    default=DEFAULT_RMT_COMMAND,
    show_default=True,
    metavar="COMMAND",
    help="The RMT server to run on a remote host.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Treat a local file as a SIMH tape image even if its name or bytes say otherwise.",
)
@click.pass_context
def main(
    ctx: click.Context, device: str | None, rsh_command: str, rmt_command: str, force: bool
) -> None:
    """Control a virtual tape drive as mt does, and make and inspect tape images.

    \b
    Operations (vmt -f DEVICE OPERATION [COUNT]):
      status rewind retension offline rewoffl eject weof eof fsf bsf fsr bsr
      fsfm bsfm eom eod seod tell seek setblk setdensity erase load unload
      lock unlock compression nop reset

    \b
    Named drives of the rmtd configuration (--config FILE, default $RMTD_CONFIG):
      vmt drives | vmt load DRIVE IMAGE | vmt unload DRIVE | vmt requests
    """  # noqa: D301 (click needs a real \b to keep the list as typed)
    # What the devices log (a torn record cut, side files dropped) is said once, as vmt.
    logging.basicConfig(level=logging.WARNING, format="vmt: %(message)s")
    ctx.obj = Target(device, rsh_command, rmt_command, force)


def _operation_command(operation: MtOperation) -> click.Command:
    @click.pass_context
    def run(ctx: click.Context, count: str | None, as_json: bool = False) -> None:
        run_mt(ctx, operation, count, as_json)

    params: list[click.Parameter] = [click.Argument(["count"], required=False)]
    if operation.op is None:  # status and tell
        params.append(
            click.Option(["--json", "as_json"], is_flag=True, help="Print JSON instead of text.")
        )
    return click.Command(
        operation.name,
        callback=run,
        params=params,
        help=operation.help,
        # "fsf -1" is a negative count (refused as mt-st refuses it), not an unknown option
        context_settings={"ignore_unknown_options": True},
    )


def run_mt(
    ctx: click.Context, operation: MtOperation, count: str | None, as_json: bool = False
) -> None:
    """Run an mt operation on the device named by ``-f`` or ``$TAPE``."""
    target: Target = ctx.obj
    if not target.device:
        raise click.UsageError("no tape device: use -f DEVICE or set TAPE")
    number = parse_count(operation, count)
    with errors_exit(target.device):
        refuse_stored(
            target.device,
            operation.name,
            "serve the store with rmtd and use HOST:STORE/VOLUME, or use vmt ls/read",
        )
        remote = parse_remote(target.device)
        flags = os.O_RDWR if operation.writes else os.O_RDONLY
        if not operation.needs_medium:
            flags |= os.O_NONBLOCK
        if remote is None:
            opener = DeviceOpener(OpenerConfig(defaults=LOCAL_DEFAULTS))
            device = opener.open(target.device, flags, force_tape=target.force)
            with _closing(device):
                _perform(device, operation, number, as_json)
            return
        tape = RemoteTape.connect(
            remote, flags, rsh_command=target.rsh_command, rmt_command=target.rmt_command
        )
        with tape:
            if operation.op is None and operation.name == "status":
                tape.connection.adapt_status_request()  # GNU rmt needs "S\n"
            _perform(tape, operation, number, as_json)


def _perform(drive: TapeDevice, operation: MtOperation, count: int, as_json: bool) -> None:
    """Carry out ``operation`` on an open device and print what mt prints (or JSON)."""
    if operation.op is not None:
        drive.ioctl(operation.op, count)
    elif operation.name == "tell":
        position = drive.tell()
        if as_json:
            emit(json.dumps(status_dict(drive.status(), position), indent=2))
        else:
            emit(f"At block {position}.")
    elif as_json:
        status = drive.status()
        emit(json.dumps(status_dict(status, _position(drive, status)), indent=2))
    else:
        emit(format_status(drive.status()), nl=False)


def _position(drive: TapeDevice, status: DriveStatus) -> int | None:
    """The logical object number for ``status --json``; ``None`` when the drive cannot say."""
    if not status.gstat & GeneralStatus.ONLINE:
        return None  # no medium: st's MTIOCPOS fails
    try:
        return drive.tell()
    except OSError:
        return None  # a server without MTIOCPOS (GNU rmt answers I-1 ... with an error)


@contextmanager
def errors_exit(name: str) -> Iterator[None]:
    """Turn an ``OSError`` into a one-line message and exit status 1."""
    try:
        yield
    except OSError as exc:
        click.echo(f"vmt: {_message(exc, name)}", err=True)
        sys.exit(EXIT_ERROR)


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that Python's flush at exit cannot fail again."""
    with suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _message(exc: OSError, name: str) -> str:
    text = describe(exc)
    try:
        bare = parse_device_spec(name).name  # "vol.tap/nowrite": messages say "vol.tap"
    except OSError:
        bare = name
    return text if text.startswith((name, bare)) else f"{name}: {text}"


@contextmanager
def _closing(device: TapeDevice) -> Iterator[TapeDevice]:
    """Close ``device`` after use, without hiding the first error."""
    try:
        yield device
    except BaseException:
        with suppress(OSError):  # the first error is the one worth reporting
            device.close()
        raise
    device.close()


def image_kind(image: str) -> DeviceKind:
    """The kind the image tools treat ``image`` as: its name's, or SIMH under ``--force``.

    Raises:
        OSError: EMEDIUMTYPE for a name that is not a tape image's (without ``--force``),
            saying what the file holds.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is not None and isinstance(ctx.find_root().obj, Target) and ctx.find_root().obj.force:
        return DeviceKind.SIMH
    kind = kind_by_name(image)
    if not kind.is_tape_image:
        if is_store_url(image):
            raise OSError(
                errno.EMEDIUMTYPE,
                f"{image}: its name says {kind.value}; stored volumes are tape images named "
                "*.tap, *.aws or *.het",
            )
        if os.path.isdir(image):
            raise OSError(errno.EISDIR, f"{image}: is a directory")
        held = f", and it holds {describe_content(image)}" if os.path.lexists(image) else ""
        raise OSError(
            errno.EMEDIUMTYPE,
            f"{image}: not a tape image: its name says {kind.value} "
            "(those are named *.tap, *.aws or *.het)"
            f"{held}; 'vmt --force' treats it as one",
        )
    return kind


@contextmanager
def quiet_devices() -> Iterator[None]:
    """Hold back the devices' warnings, for a command that reports the same problem itself."""
    logger = logging.getLogger("devices")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def open_image(image: str, options: OpenOptions) -> Iterator[VirtualTapeDrive]:
    """Open an image as a drive; close it after, without hiding the first error.

    ``image`` is a local path, or ``s3://bucket/prefix/volume.tap`` for a stored volume
    (:mod:`rmtd.vmt.stored`; the command's ``--endpoint`` and ``--region`` say where).
    """
    kind = image_kind(image)
    if is_store_url(image):
        drive = open_stored(image, options, kind)
    else:
        forced = kind_by_name(image) is not kind
        drive = open_tape_image(image, options, kind=kind, accept_foreign=forced)
    with _closing(drive):
        yield drive
