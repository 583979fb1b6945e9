"""Write the manual pages ``rmtd(8)`` and ``vmt(1)`` from the click commands.

Run: ``python -m man.build [DIR]`` (default: this folder). The pages are kept in the tree, not
made at build time: a wheel then builds from the sdist with setuptools alone, without importing
rmtd (and so click, construct and tomlkit) inside the build environment.
``tests/install/test_man.py`` fails when a page no longer matches what this script writes, or
when a page and ``--help`` list different options or subcommands.

Each page has the program's own options, then one subsection per subcommand (nested groups as
``rmtd access add``), in the order ``--help`` lists them. Hidden options and commands are left
out, as ``--help`` leaves them out. Roff follows groff_man(7): ``.TH``, ``.SH``, ``.SS``, ``.TP``.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Page:
    """One manual page: what it documents and the hand-written sections it ends with.

    Attributes:
        name: the program, as typed.
        section: the manual section (8 for the server, 1 for the user's tool).
        title: the manual's title in the page header.
        summary: the NAME line's description.
        command: the click command the page documents.
        tail: roff for the sections after COMMANDS (ENVIRONMENT, FILES, SEE ALSO).
    """

    name: str
    section: int
    title: str
    summary: str
    command: click.Command
    tail: str

    @property
    def filename(self) -> str:
        """The page's file name, ``name.section``."""
        return f"{self.name}.{self.section}"


def escape(text: str) -> str:
    r"""Escape text for roff: backslashes, hyphens, and a control character opening a line.

    A ``-`` becomes ``\-`` so that options copy from the rendered page as ASCII hyphens.
    """
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line for line in text.split("\n"))


def paragraphs(help_text: str) -> str:
    r"""Roff for a click help text: blank lines separate paragraphs, ``\b`` keeps line breaks.

    Text after ``\f`` is for the code reader only, as click cuts it from ``--help``.
    """
    text = inspect.cleandoc(help_text).split("\f", 1)[0]
    out: list[str] = []
    for block in text.split("\n\n"):
        lines = block.split("\n")
        if lines[0].strip() == "\b":
            out += [".PP", ".nf", escape("\n".join(lines[1:])), ".fi"]
        else:
            out += [".PP", escape(" ".join(line.strip() for line in lines))]
    return "\n".join(out)


def visible_params(command: click.Command, ctx: click.Context) -> Iterator[tuple[str, str]]:
    """Each option ``--help`` shows, as its (flags and metavar, help) pair."""
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option):
            continue  # arguments appear in the usage line only, as in --help
        record = param.get_help_record(ctx)
        if record is not None:
            yield record


def subcommands(group: click.Command, ctx: click.Context) -> Iterator[click.Command]:
    """The subcommands ``--help`` lists, in its order; none for a plain command."""
    if not isinstance(group, click.Group):
        return
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            yield command


def options_roff(command: click.Command, ctx: click.Context) -> str:
    """One ``.TP`` paragraph per visible option: the flags in bold, then the help."""
    out: list[str] = []
    for flags, help_text in visible_params(command, ctx):
        out += [".TP", f"\\fB{escape(flags)}\\fR", escape(" ".join(help_text.split()))]
    return "\n".join(out)


def usage(command: click.Command, ctx: click.Context) -> str:
    """The usage line as ``--help`` prints it, without ``Usage:``."""
    return " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])


def command_sections(
    command: click.Command, ctx: click.Context
) -> Iterator[tuple[click.Context, str]]:
    """Each subcommand below ``command``, depth first, with the roff of its subsection."""
    for sub in subcommands(command, ctx):
        assert sub.name is not None
        sub_ctx = click.Context(sub, info_name=sub.name, parent=ctx)
        roff = "\n".join(
            [
                f'.SS "{escape(sub_ctx.command_path)}"',
                f"\\fB{escape(usage(sub, sub_ctx))}\\fR",
                paragraphs(sub.help or ""),
                options_roff(sub, sub_ctx),
            ]
        )
        yield sub_ctx, roff
        yield from command_sections(sub, sub_ctx)


def render(page: Page) -> str:
    """The whole page as roff text, ending with a newline."""
    # The command's context settings give -h next to --help, as the program itself does.
    ctx = click.Context(page.command, info_name=page.name, **page.command.context_settings)
    parts = [
        '.\\" Generated by man/build.py from the click commands: run python -m man.build.',
        f'.TH {page.name.upper()} {page.section} "" "{page.name}" "{page.title}"',
        ".SH NAME",
        f"{page.name} \\- {escape(page.summary)}",
        ".SH SYNOPSIS",
        f"\\fB{escape(usage(page.command, ctx))}\\fR",
        ".SH DESCRIPTION",
        paragraphs(page.command.help or ""),
        ".SH OPTIONS",
        options_roff(page.command, ctx),
    ]
    sections = [roff for _, roff in command_sections(page.command, ctx)]
    if sections:
        parts += [".SH COMMANDS", *sections]
    parts.append(page.tail.strip("\n"))
    return "\n".join(part for part in parts if part) + "\n"


RMTD_TAIL = r"""
.SH ENVIRONMENT
.TP
.B RMTD_CONFIG
The configuration file when \fB\-\-config\fR is not given.
.TP
.B SSH_CONNECTION
The client's address, for the access rules, when started by sshd.
.TP
.B SSH_ORIGINAL_COMMAND
What an ssh client asked to run under a forced command: an rmt command gets the session.
.TP
.B AWS_ACCESS_KEY_ID\fR, \fBAWS_SECRET_ACCESS_KEY\fR, \fBAWS_PROFILE
Credentials for the object stores of \fB[stores.\fINAME\fB]\fR tables (the standard AWS
chain, read by boto3: these variables, ~/.aws/credentials, an instance role).
.SH FILES
.TP
.I /etc/rmtd.toml
The configuration (root, drives, access rules, object stores), when present.
.TP
.I /var/spool/rmtd
The default \fBspool_dir\fR of a store: records acknowledged and not yet in the store.
A host lost for good takes with it what its spool holds.
.TP
.I /var/cache/rmtd
The default \fBcache_dir\fR of a store: chunks read back, bounded by \fBcache_size\fR.
.SH SEE ALSO
.BR vmt (1),
.BR tar (1),
.BR cpio (1),
.BR mt (1),
.BR rmt (8),
.BR dump (8),
.BR restore (8),
.BR update\-alternatives (1),
.BR sshd (8)
"""

VMT_TAIL = r"""
.SH ENVIRONMENT
.TP
.B TAPE
The device when \fB\-f\fR is not given.
.TP
.B RSH
How to reach a remote host when \fB\-\-rsh\-command\fR is not given.
.TP
.B RMTD_CONFIG
The configuration naming the drives, for the named\-drive commands.
.TP
.B AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL
The S3 endpoint of \fBs3://\fR volumes when \fB\-\-endpoint\fR is not given.
.TP
.B AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
The store's credentials and region (the standard AWS chain is used).
.TP
.B XDG_STATE_HOME, XDG_CACHE_HOME
Where a stored volume's spool (\fIrmtd/spool\fR) and chunk cache (\fIrmtd/chunks\fR)
live (default \fI~/.local/state\fR, \fI~/.cache\fR).
.SH EXIT STATUS
0 on success, 1 when an operation fails (one line on standard error), 2 for a usage error,
130 when interrupted, 141 when standard output's reader went away.
.SH SEE ALSO
.BR rmtd (8),
.BR mt (1),
.BR tar (1),
.BR mtdump (1)
"""


def pages() -> list[Page]:
    """The project's manual pages."""
    from rmtd.cli import main as rmtd_main
    from rmtd.vmt import main as vmt_main

    return [
        Page(
            "rmtd",
            8,
            "System Manager's Manual",
            "remote magnetic tape (RMT) server with virtual tape drives over tape images",
            rmtd_main,
            RMTD_TAIL,
        ),
        Page(
            "vmt",
            1,
            "User Commands",
            "mt for virtual and remote tape drives; make and inspect tape images",
            vmt_main,
            VMT_TAIL,
        ),
    ]


def main(argv: list[str]) -> int:
    """Write every page into ``argv[0]`` (default: this folder)."""
    target = Path(argv[0]) if argv else HERE
    target.mkdir(parents=True, exist_ok=True)
    for page in pages():
        (target / page.filename).write_text(render(page))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
