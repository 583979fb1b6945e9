"""Which line of a TOML file defines a key: what configuration errors name.

tomllib reports no line for what it parsed, so the line is found by scanning the text for the
key within its table (:func:`find_line`); a key of the n-th ``[[...]]`` entry is looked for
within that entry (:func:`find_entry_line`).
"""

from __future__ import annotations

import re

_KEY_PART = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)\s*')


def _dotted(text: str) -> tuple[tuple[str, ...], str] | None:
    """Split a dotted TOML key at the start of ``text``; return its parts and the rest."""
    parts: list[str] = []
    rest = text
    while True:
        match = _KEY_PART.match(rest)
        if not match:
            return None
        raw = match[1]
        parts.append(raw[1:-1] if raw[0] in "\"'" else raw)
        rest = rest[match.end() :]
        if not rest.startswith("."):
            return tuple(parts), rest
        rest = rest[1:]


def _line_path(line: str, table: tuple[str, ...]) -> tuple[tuple[str, ...], bool] | None:
    """The key path a line defines, and whether it is a table header; ``None``: neither."""
    stripped = line.strip()
    if stripped.startswith("["):
        inner = stripped[2:] if stripped.startswith("[[") else stripped[1:]
        parsed = _dotted(inner)
        return (parsed[0], True) if parsed and parsed[1].startswith("]") else None
    parsed = _dotted(stripped)
    if parsed and parsed[1].startswith("="):
        return (*table, *parsed[0]), False
    return None


def find_line(text: str, path: tuple[str, ...]) -> int | None:
    """Return the 1-based line that defines ``path`` (or the closest enclosing key or table).

    A scan, not a parser: it follows ``[table]`` headers and ``key =`` lines (dotted or quoted
    keys too) and skips multi-line strings well enough for configuration files.
    """
    table: tuple[str, ...] = ()
    best: tuple[int, int] | None = None  # (matched length, line)
    in_string: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if in_string is not None:
            if line.count(in_string) % 2:
                in_string = None
            continue
        found = _line_path(line, table)
        for quote in ('"""', "'''"):
            if line.count(quote) % 2:
                in_string = quote
        if found is None:
            continue
        defined, header = found
        if header:
            table = defined
        if path[: len(defined)] == defined and (best is None or len(defined) > best[0]):
            best = (len(defined), number)
            if defined == path:
                return number
    return best[1] if best else None


def find_entry_line(text: str, path: tuple[str, ...], entry: int) -> int | None:
    """Like :func:`find_line`, within the ``entry``-th (1-based) ``[[...]]`` heading ``path``.

    The array is the one whose ``[[a.b]]`` header names a prefix of ``path`` (``[[access.proxy]]``
    for ``access.proxy.mode``, ``[[file]]`` for ``file.bad``).

    An array written inline (``proxy = [{...}]``) has no headers: then as :func:`find_line`.
    """
    lines = text.splitlines()
    starts = [
        number
        for number, line in enumerate(lines)
        if line.strip().startswith("[[")
        and (found := _line_path(line, ()))
        and path[: len(found[0])] == found[0]
    ]
    if len(starts) < entry:
        return find_line(text, path)
    start = starts[entry - 1]
    end = next((n for n in range(start + 1, len(lines)) if lines[n].strip().startswith("[")), None)
    # Blank the lines outside the entry, so the scan keeps the file's line numbers.
    inside = [""] * start + lines[start:end]
    return find_line("\n".join(inside), path)
