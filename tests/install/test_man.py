"""The manual pages in man/ are what man/build.py writes, and list what ``--help`` lists.

The pages are kept in the tree (a wheel builds from the sdist with setuptools alone); these
tests fail when a command's options, subcommands or help change and the pages were not
rewritten with ``python -m man.build``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from man import build

PAGES = {page.filename: page for page in build.pages()}


def help_paths(command: click.Command, path: list[str]) -> Iterator[list[str]]:
    """Every command path below ``command`` (itself first), as --help lists subcommands."""
    yield path
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            if not sub.hidden:
                yield from help_paths(sub, [*path, name])


def help_lists(command: click.Command, args: list[str]) -> tuple[set[str], set[str]]:
    """The option flags and subcommand names ``COMMAND ARGS --help`` prints."""
    result = CliRunner().invoke(command, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    flags: set[str] = set()
    commands: set[str] = set()
    section = ""
    for line in result.output.splitlines():
        if line and not line.startswith(" "):
            section = line
        elif section == "Options:" and re.match(r"  -", line):
            first_column = re.split(r"\s{2,}", line.strip())[0]
            flags |= set(re.findall(r"(?<![\w-])--?\w[\w-]*", first_column))
        elif section == "Commands:" and re.match(r"  \w", line):
            commands.add(line.split()[0])
    return flags, commands


def page_lists(roff: str, command_path: str) -> tuple[set[str], set[str]]:
    """The option flags of one command's part of a page, and the subcommands documented."""
    parts = re.split(r'^\.SS "(.*)"$', roff, flags=re.M)
    if command_path.count(" ") == 0:
        body = parts[0].split(".SH OPTIONS", 1)[1].split(".SH COMMANDS", 1)[0]
    else:
        headings = dict(zip(parts[1::2], parts[2::2], strict=True))
        body = headings[command_path.replace("-", "\\-")]
    flags: set[str] = set()
    for flag_line in re.findall(r"^\.TP\n\\fB(.*)\\fR$", body, flags=re.M):
        first = flag_line.replace("\\-", "-")
        flags |= set(re.findall(r"(?<![\w-])--?\w[\w-]*", first.split(" [")[0]))
    prefix = command_path.replace("-", "\\-") + " "
    subs = {
        heading[len(prefix) :]
        for heading in parts[1::2]
        if heading.startswith(prefix) and " " not in heading[len(prefix) :]
    }
    return flags, subs


@pytest.mark.parametrize("filename", sorted(PAGES))
def test_page_in_tree_is_what_build_writes(filename: str) -> None:
    committed = (build.HERE / filename).read_text()
    assert committed == build.render(PAGES[filename]), (
        f"man/{filename} is out of date: run python -m man.build"
    )


@pytest.mark.parametrize("filename", sorted(PAGES))
def test_page_lists_what_help_lists(filename: str) -> None:
    page = PAGES[filename]
    roff = (build.HERE / filename).read_text()
    paths = list(help_paths(page.command, []))
    assert len(paths) > 1, "every program has subcommands"
    for args in paths:
        help_flags, help_commands = help_lists(page.command, args)
        page_flags, page_commands = page_lists(roff, " ".join([page.name, *args]))
        assert "--help" in help_flags
        assert page_flags == help_flags, args
        assert page_commands == help_commands, args


def test_page_checker_sees_a_missing_option() -> None:
    page = PAGES["vmt.1"]
    roff = build.render(page).replace("\\fB\\-\\-capacity SIZE\\fR", "\\fB\\-\\-capacitance\\fR")
    flags, _ = page_lists(roff, "vmt new")
    help_flags, _ = help_lists(page.command, ["new"])
    assert "--capacity" in help_flags and "--capacity" not in flags
