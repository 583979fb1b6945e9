"""``vmt synth SPEC.toml IMAGE``: a tape image from a declarative spec, the same bytes every run.

A spec describes the volume and its tape files, one ``[[file]]`` table each, in order::

    format = "simh"          # optional: simh, aws or het; else --to, else IMAGE's suffix
    density = "6250"         # as vmt new --density: 800, 1600, 6250 bpi, a code, a name
    capacity = "100M"        # optional, bytes of image (a number, or 64k, 100M, 1.5G)
    early_warning = "128k"   # optional; default as vmt new: 128k, or a quarter of the capacity
    block_size = 0           # the drive's fixed block size (0: variable), saved in its state
    seed = 42                # seeds the random records of every [[file]] without a seed

    [[file]]                 # a tape file: its records, then a filemark
    records = { size = 10240, count = 20 }                # 20 records of seeded random bytes
    [[file]]
    records = { size = "10k", total = "1M", content = "pattern", pattern = "ab" }
    [[file]]
    records = { sizes = [80, 80, 512], seed = 7 }         # one length per record
    [[file]]
    tar = "some/dir"         # a tar of a directory (relative to the spec's directory)
    record_size = 10240      # default 10240 (tar -b 20); tar_format = "ustar" (default "gnu")
    [[file]]
    data = "disk.img"        # a file's bytes, cut into records of record_size (the last shorter)
    record_size = 65536      # default 10240, for data as for tar
    bad = [3]                # record indexes within this file written as bad-data records
    marks = 2                # filemarks after it (default 1; 0: the next [[file]] continues it)

A ``[[file]]`` holds at most one of ``records``, ``tar`` and ``data``; with none it is an empty
tape file (its filemarks alone). ``records`` takes ``size`` with ``count`` or ``total``, or
``sizes``; ``content`` is ``"random"`` (the default; ``seed`` of its own optional) or
``"pattern"`` (``pattern``, a string repeated across the records). ``bad = true`` marks every
record of the file. Bad-data records exist only in SIMH images; an AWS or HET spec with ``bad``
is refused. Random bytes come from Python's ``random.Random``, tars from :mod:`tarfile` with
fixed times, owners and modes: the same spec gives the same image, byte for byte.

The image is written as :class:`rmtd.testing.Tape` writes it (the API and the spec give the same
bytes). IMAGE must not exist; ``--force`` replaces an existing image (never a write-protected
one, nor a file that is no image), as ``vmt new --force`` does. An error in the spec names the
file, the line and the key, as rmtd's configuration does; nothing is written then.
"""

from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import click

from rmtd.config import (
    ConfigError,
    TomlChecker,
    _kind,
    key_error,
    parse_toml,
    read_toml_file,
)
from rmtd.sizes import parse_size
from rmtd.testing import (
    FORMATS,
    Content,
    ContentError,
    Data,
    Pattern,
    Random,
    SynthError,
    Tape,
    Tar,
)
from rmtd.testing.contents import TAR_FORMATS, TAR_RECORD
from rmtd.vmt.app import EXIT_ERROR, EXIT_INTERRUPTED, errors_exit, main
from rmtd.vmt.stored import refuse_stored

TOP_KEYS = ("format", "density", "capacity", "early_warning", "block_size", "seed", "file")
FILE_KEYS = ("records", "tar", "data", "record_size", "tar_format", "bad", "marks")
RECORDS_KEYS = ("size", "count", "total", "sizes", "content", "pattern", "seed")
CONTENTS = ("random", "pattern")


@main.command("synth")
@click.argument("spec", type=click.Path())
@click.argument("image", type=click.Path())
@click.option(
    "--to",
    "target",
    type=click.Choice(sorted(FORMATS)),
    help="The image's format (default: the spec's format, else the one IMAGE's name claims).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing image (never a write-protected one, nor a file that is no image).",
)
def synth_command(spec: str, image: str, target: str | None, force: bool) -> None:
    """Write the tape SPEC (a TOML file) describes as a new image IMAGE.

    The same spec always gives the same bytes. A summary line ends on standard error; an
    error in the spec names its line and key, and nothing is written. Ctrl-C exits with 130 and
    leaves no image behind.
    """
    try:
        parsed = load_spec(spec, target)
        with errors_exit(image):
            refuse_stored(image, "synth", "write a local image, then 'vmt convert' it")
            if not force and os.path.lexists(image):
                raise OSError(errno.EEXIST, f"{image}: exists; --force replaces an image")
            try:
                written = parsed.tape.write(image, force=force)
            except KeyboardInterrupt:
                # Tape.write removed the image it had begun; one existing still is untouched.
                left = "untouched" if os.path.lexists(image) else "not written"
                click.echo(f"vmt: {image}: interrupted; {left}", err=True)
                sys.exit(EXIT_INTERRUPTED)
            except SynthError as exc:
                if exc.key == "format" and target is not None:
                    raise click.UsageError(exc.why) from None
                raise parsed.error(exc) from None
    except ConfigError as exc:
        click.echo(f"vmt: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    click.echo(f"{written.line(image)} from {spec}", err=True)


@dataclass
class Spec:
    """A parsed spec: the tape, and what it needs to name the key of a later error."""

    tape: Tape
    text: str
    source: str
    content_keys: list[str] = field(default_factory=list)
    """Each ``[[file]]``'s content key (``records``, ``tar``, ``data``; ``""``: none)."""

    def error(self, exc: SynthError) -> ConfigError:
        """The spec's error for ``exc``, raised while the tape was written: file, line, key."""
        if exc.entry is None:
            return key_error(self.text, self.source, (exc.key,), exc.why)
        key = self.content_keys[exc.entry - 1] if exc.key == "content" else exc.key
        return key_error(self.text, self.source, ("file", key or "marks"), exc.why, exc.entry)


def load_spec(path: str, target: str | None = None) -> Spec:
    """Read the spec at ``path``; relative paths in it are taken from its directory.

    ``target``: the format ``--to`` gave, which the spec's ``format`` must agree with.

    Raises:
        ConfigError: the file cannot be read, is not TOML, or holds a bad key.
    """
    text = read_toml_file(path, "the spec")
    return parse_spec(text, path, os.path.dirname(os.path.abspath(path)), target)


def parse_spec(
    text: str, source: str = "<spec>", base_dir: str = ".", target: str | None = None
) -> Spec:
    """Parse spec ``text`` into a :class:`Spec`; see the module.

    Raises:
        ConfigError: the text is not TOML, or holds an unknown key, a wrong type or a bad value.
    """
    return _Parser(text, source, base_dir).spec(parse_toml(text, source), target)


class _Parser(TomlChecker):
    """Checks a parsed spec (errors naming file, line and key, as the configuration's)."""

    def spec(self, data: dict[str, Any], target: str | None) -> Spec:
        self.unknown(data, (), TOP_KEYS)
        fmt = data.get("format")
        if fmt is not None and fmt not in FORMATS:
            raise self.fail(("format",), f"{fmt!r} is not one of {', '.join(FORMATS)}")
        if target is not None and fmt is not None and fmt != target:
            raise self.fail(("format",), f"{fmt!r}, but --to says {target!r}")
        tape = self.tape(data, target or fmt)
        files = data.get("file", [])
        if not isinstance(files, list):
            raise self.fail(
                ("file",), f"expected an array of tables ([[file]]), got {_kind(files)}"
            )
        keys = [self.file(tape, entry, number) for number, entry in enumerate(files, 1)]
        return Spec(tape, self.text, self.source, keys)

    def tape(self, data: dict[str, Any], fmt: str | None) -> Tape:
        density = data.get("density", 0)
        if isinstance(density, bool) or not isinstance(density, int | str):
            raise self.fail(("density",), f"expected a string or an integer, got {_kind(density)}")
        early = data.get("early_warning")
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise self.fail(("seed",), f"expected an integer, got {_kind(seed)}")
        try:
            return Tape(
                fmt,
                density=density,
                capacity=self.size(data, ("capacity",), 0),
                early_warning=None if early is None else self.size(data, ("early_warning",), 0),
                block_size=self.size(data, ("block_size",), 0),
                seed=seed,
            )
        except SynthError as exc:
            raise self.fail((exc.key,), exc.why) from None

    def file(self, tape: Tape, entry: object, n: int) -> str:
        """Add the ``n``-th ``[[file]]`` to ``tape``; return its content key."""
        at = ("file",)
        if not isinstance(entry, dict):
            raise self.fail(at, f"expected a table ([[file]]), got {_kind(entry)}", n)
        for key in entry:
            if key not in FILE_KEYS:
                raise self.fail((*at, key), f"unknown key (known: {', '.join(FILE_KEYS)})", n)
        given = [key for key in ("records", "tar", "data") if key in entry]
        if len(given) > 1:
            raise self.fail(
                (*at, given[1]),
                f"a [[file]] holds one of records, tar, data, not {' and '.join(given)}",
                n,
            )
        key = given[0] if given else ""
        for extra in ("record_size", "tar_format"):
            if extra in entry and (
                key not in ("tar", "data") or (extra == "tar_format" and key != "tar")
            ):
                raise self.fail(
                    (*at, extra),
                    f"only with {'tar' if extra == 'tar_format' else 'tar or data'}",
                    n,
                )
        try:
            content = self.content(entry, key, n)
        except ContentError as exc:
            where = (*at, "records", exc.key) if key == "records" else (*at, _file_key(exc.key))
            raise self.fail(where, exc.why, n) from None
        bad = entry.get("bad", [])
        if not isinstance(bad, bool) and not (
            isinstance(bad, list) and all(type(i) is int and i >= 0 for i in bad)
        ):
            raise self.fail(
                (*at, "bad"), f"expected true or a list of record indexes >= 0, got {_kind(bad)}", n
            )
        marks = entry.get("marks", 1)
        if type(marks) is not int or marks < 0:
            raise self.fail((*at, "marks"), f"expected an integer >= 0, got {_kind(marks)}", n)
        tape.file(content, bad=bad, marks=marks)
        return key

    def content(self, entry: dict[str, Any], key: str, n: int) -> Content | None:
        if key == "records":
            return self.records(entry["records"], n)
        if not key:
            return None
        value = entry[key]
        if not isinstance(value, str) or not value:
            raise self.fail(("file", key), f"expected a path, got {_kind(value)}", n)
        path = os.path.join(self.base_dir, os.path.expanduser(value))
        exists = os.path.isdir(path) if key == "tar" else os.path.isfile(path)
        if not exists:
            what = "an existing directory" if key == "tar" else "an existing file"
            raise self.fail(("file", key), f"{value}: not {what}", n)
        size = self.size(entry, ("file", "record_size"), TAR_RECORD, n)
        if key == "data":
            return Data(path, size)
        fmt = entry.get("tar_format", "gnu")
        if fmt not in TAR_FORMATS:
            raise self.fail(
                ("file", "tar_format"), f"{fmt!r} is not one of {', '.join(TAR_FORMATS)}", n
            )
        return Tar(path, size, fmt)

    def records(self, table: object, n: int) -> Content:
        at = ("file", "records")
        if not isinstance(table, dict):
            raise self.fail(
                at, f"expected a table ({{ size = 10240, count = 20 }}), got {_kind(table)}", n
            )
        for key in table:
            if key not in RECORDS_KEYS:
                raise self.fail((*at, key), f"unknown key (known: {', '.join(RECORDS_KEYS)})", n)
        size = self.size(table, (*at, "size"), None, n)
        count = table.get("count")
        if count is not None and (type(count) is not int or count < 1):
            raise self.fail((*at, "count"), f"expected an integer >= 1, got {_kind(count)}", n)
        total = self.size(table, (*at, "total"), None, n)
        sizes = self.sizes(table, n)
        kind = table.get("content", "random")
        if kind not in CONTENTS:
            raise self.fail(
                (*at, "content"), f"{kind!r} is not one of {', '.join(map(repr, CONTENTS))}", n
            )
        if kind == "pattern":
            if "seed" in table:
                raise self.fail((*at, "seed"), 'only with content = "random"', n)
            pattern = table.get("pattern")
            if not isinstance(pattern, str):
                raise self.fail((*at, "pattern"), f"expected a string, got {_kind(pattern)}", n)
            return Pattern(pattern, size, count, total, sizes)
        if "pattern" in table:
            raise self.fail((*at, "pattern"), 'only with content = "pattern"', n)
        seed = table.get("seed")
        return Random(size, count, total, sizes, seed)

    def sizes(self, table: dict[str, Any], n: int) -> list[int] | None:
        at = ("file", "records", "sizes")
        value = table.get("sizes")
        if value is None:
            return None
        if not isinstance(value, list):
            raise self.fail(at, f"expected a list of sizes, got {_kind(value)}", n)
        return [self.parse_size(v, at, n) for v in value]

    def size(
        self, table: dict[str, Any], at: tuple[str, ...], default: int | None, n: int | None = None
    ) -> Any:
        value = table.get(at[-1])
        return default if value is None else self.parse_size(value, at, n)

    def parse_size(self, value: object, at: tuple[str, ...], n: int | None) -> int:
        """An integer, or a string as ``vmt new`` takes it (``64k``, ``100M``)."""
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise self.fail(at, f"{value} is negative", n)
            return value
        if not isinstance(value, str):
            raise self.fail(
                at, f"expected a size (an integer, or a string such as 64k), got {_kind(value)}", n
            )
        try:
            return parse_size(value)
        except ValueError as exc:
            raise self.fail(at, str(exc), n) from None


def _file_key(key: str) -> str:
    """The ``[[file]]`` key for a :class:`ContentError` of a tar or data content."""
    return "tar_format" if key == "format" else key
