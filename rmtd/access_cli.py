"""``rmtd access``: the proxy database, managed like the seed's ``ADD PROXY`` and ``/REJECT``.

``show`` lists the ``[access]`` table with the proxy entries numbered (1 first); ``add``,
``remove`` and ``reject`` edit the configuration file in place with tomlkit, keeping its
comments and layout; ``check`` says whether a user on a host may open a device, and which rule
decides (exit 0 allowed, 1 refused) — what an administrator runs when a user says "access
denied". The file is ``--config``, else ``$RMTD_CONFIG``, else ``/etc/rmtd.toml``.

An edit is never written unless the edited file parses as a whole (:func:`rmtd.config
.parse_config`), and is written atomically: a temporary file in the same directory, flushed to
disk, then renamed over the old one (keeping its permissions), so a server reading the file
sees the old or the new text, never half of either.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click
import tomlkit
from tomlkit.items import AoT, Comment, Null, Table, Trivia, Whitespace

from devices import atomic
from rmtd.access import MODES, AccessDenied, AccessPolicy, HostPattern, Peer, grant_name
from rmtd.access_config import check_glob
from rmtd.config import DEFAULT_CONFIG, ConfigError, ServerConfig, default_config_path
from rmtd.config import parse_config as parse_server_config
from rmtd.devspec import DevSpecError, parse_device_spec

EXIT_REFUSED = 1
EXIT_CONFIG = 2


def _fail(message: str) -> NoReturn:
    click.echo(f"rmtd access: {message}", err=True)
    sys.exit(EXIT_CONFIG)


def _path(ctx: click.Context, edit: bool) -> str | None:
    """The configuration file: this group's ``--config``, rmtd's, ``$RMTD_CONFIG``, default."""
    given = ctx.find_object(dict) or {}
    chosen = given.get("config") or ctx.find_root().params.get("config_file")
    chosen = chosen or default_config_path(os.environ)
    return chosen or (DEFAULT_CONFIG if edit else None)


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as src:
            return src.read()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        _fail(f"{path}: cannot read the configuration: {reason}")


def _parse(text: str, path: str) -> ServerConfig:
    try:
        return parse_server_config(text, path, os.path.dirname(os.path.abspath(path)))
    except ConfigError as exc:
        _fail(str(exc))


def _load(ctx: click.Context) -> tuple[str | None, ServerConfig]:
    path = _path(ctx, edit=False)
    if path is None:
        return None, ServerConfig()
    if not os.path.exists(path):
        _fail(f"{path}: cannot read the configuration: No such file or directory")
    return path, _parse(_read_text(path), path)


def write_atomically(path: str, text: str) -> None:
    """Replace the file at ``path`` (through a symbolic link) with ``text``, all or nothing.

    The new file keeps the old one's mode (and owner, when run as root).

    Raises:
        OSError: the file could not be written; the old one is untouched.
    """
    target = os.path.realpath(path)
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    mode = old.st_mode & 0o7777 if old is not None else 0o644
    owner = (old.st_uid, old.st_gid) if old is not None and os.geteuid() == 0 else None
    atomic.write_atomically(target, [text.encode()], mode, owner, sync_dir=True)


def _edit(ctx: click.Context, change: Callable[[Table], str]) -> None:
    """Apply ``change`` to the ``[access]`` table, check the result, write it, say what changed."""
    path = _path(ctx, edit=True)
    assert path is not None  # an edit always has a file
    text = _read_text(path)
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError as exc:
        _fail(f"{path}: not valid TOML: {exc}")
    if "access" not in document:
        if text and not text.endswith("\n\n"):
            document.add(tomlkit.nl())
        document.add("access", tomlkit.table(is_super_table=False))
    table = document["access"]
    if not isinstance(table, Table):
        _fail(f"{path}: access: expected a table ([access])")
    said = change(table)
    edited = tomlkit.dumps(document)
    edited = edited.rstrip("\n") + "\n"  # one newline at the end, however the edit left it
    rules = _parse(edited, path).access  # never write what would not parse
    if rules is not None and not rules.proxy and rules.hosts_equiv is None:
        said += "\nno proxy entries: every connection is refused"
    try:
        write_atomically(path, edited)
    except OSError as exc:
        _fail(f"{path}: cannot write the configuration: {exc.strerror}")
    click.echo(said)


@click.group("access", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="TOML configuration (default: $RMTD_CONFIG, else /etc/rmtd.toml).",
)
@click.pass_context
def access(ctx: click.Context, config_file: str | None) -> None:
    """Show, edit and check the proxy database (the config's [access] table)."""
    ctx.obj = {"config": config_file}


@access.command()
@click.pass_context
def show(ctx: click.Context) -> None:
    """List the [access] table, proxy entries numbered."""
    path, config = _load(ctx)
    rules = config.access
    if rules is None:
        click.echo(f"{path or 'no configuration'}: no [access] table: every open is allowed")
        return
    click.echo(f"{path}: access control is on")
    click.echo(f"case_insensitive = {str(rules.case_insensitive).lower()}")
    click.echo(f"require_privileged_port = {str(rules.require_privileged_port).lower()}")
    click.echo(f"hosts_equiv = {rules.hosts_equiv or 'not used'}")
    click.echo(f"reject: {', '.join(h.text for h in rules.reject) or 'none'}")
    if not rules.proxy:
        click.echo("proxy: no entries: every connection is refused")
    for number, entry in enumerate(rules.proxy, 1):
        click.echo(f"{number:3}. {entry.describe()}")


def _host_option(value: str) -> str:
    try:
        HostPattern.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _checked_host(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else _host_option(value)


def _checked_globs(
    _ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    for glob in value:
        why = check_glob(glob)
        if why is not None:
            raise click.BadParameter(f"{glob!r}: {why}")
    return value


HOST_HELP = "A host name, an address, a network (CIDR) or '*'."


@access.command()
@click.option("--remote-host", required=True, callback=_checked_host, help=HOST_HELP)
@click.option("--remote-user", required=True, help="The user on the client, or '*'.")
@click.option("--local-user", required=True, help="Whom the session acts as, or '*'.")
@click.option(
    "--devices",
    required=True,
    multiple=True,
    callback=_checked_globs,
    help="A glob over names inside root, or a drive name (repeatable).",
)
@click.option("--mode", type=click.Choice(MODES), default="read-only", show_default=True)
@click.pass_context
def add(
    ctx: click.Context,
    remote_host: str,
    remote_user: str,
    local_user: str,
    devices: tuple[str, ...],
    mode: str,
) -> None:
    """Add a proxy entry after the others (like ADD PROXY)."""

    def change(table: Table) -> str:
        entry = tomlkit.table()
        entry["remote_host"] = remote_host
        entry["remote_user"] = remote_user
        entry["local_user"] = local_user
        entry["devices"] = list(devices)
        entry["mode"] = mode
        entry.add(tomlkit.nl())
        if "proxy" not in table:
            if table:  # a blank line between the table's keys and the first entry
                table.add(tomlkit.nl())
            table["proxy"] = tomlkit.aot()
        entries = table["proxy"]
        if not isinstance(entries, AoT):
            _fail("access.proxy: written inline; edit it by hand")
        if entries and not entries[-1].as_string().endswith("\n\n"):
            entries[-1].add(tomlkit.nl())  # a blank line after the last entry and its comments
        entries.append(entry)
        who = f"{remote_user}@{remote_host} as {local_user}"
        return f"added proxy entry {len(entries)}: {who}: {', '.join(devices)} {mode}"

    _edit(ctx, change)


def _matches(entry: Any, fields: dict[str, str | None]) -> bool:
    return all(value is None or entry.get(key) == value for key, value in fields.items())


@access.command()
@click.argument("number", type=click.IntRange(1), required=False)
@click.option("--remote-host", help="Remove the entries for this host (as written).")
@click.option("--remote-user", help="... for this remote user (as written).")
@click.option("--local-user", help="... for this local user (as written).")
@click.pass_context
def remove(
    ctx: click.Context,
    number: int | None,
    remote_host: str | None,
    remote_user: str | None,
    local_user: str | None,
) -> None:
    """Remove proxy entry NUMBER (as `show` numbers them), or every entry matching the fields."""
    fields = {"remote_host": remote_host, "remote_user": remote_user, "local_user": local_user}
    if (number is None) == all(value is None for value in fields.values()):
        raise click.UsageError("give an entry NUMBER or --remote-host/--remote-user/--local-user")

    def change(table: Table) -> str:
        entries = table.get("proxy")
        if not isinstance(entries, AoT):
            inline = "access.proxy: written inline; edit it by hand"
            _fail("access.proxy: there are no proxy entries" if entries is None else inline)
        chosen = [
            n
            for n, entry in enumerate(entries, 1)
            if (n == number if number is not None else _matches(entry, fields))
        ]
        if not chosen:
            _fail(f"no proxy entry {'numbered ' + str(number) if number else 'matches'}")
        gone = [_describe(entries[n - 1]) for n in chosen]
        for n in reversed(chosen):
            _remove_entry(table, entries, n - 1)
        if not entries:
            del table["proxy"]
        said = "\n".join(f"removed proxy entry {n}: {g}" for n, g in zip(chosen, gone, strict=True))
        return said

    _edit(ctx, change)


def _comments_start(body: list[tuple[Any, Any]], end: int) -> int:
    """Where the run of comment lines directly above position ``end`` of ``body`` starts."""
    start = end
    while (
        start > 0 and body[start - 1][0] is None and isinstance(body[start - 1][1], Comment | Null)
    ):
        start -= 1
    return start


def _remove_entry(table: Table, entries: AoT, index: int) -> None:
    """Delete proxy entry ``index`` (0-based) with the comment lines directly above it.

    tomlkit keeps the comments above ``[[access.proxy]]`` at the end of the table before it,
    so a plain ``del`` would take the next entry's comments and leave this one's behind. They
    are moved in place (replaced by ``Null`` items, as tomlkit itself removes) so the indices
    of the containers' keys stay valid.
    """
    tables = entries.body
    if index == 0:
        body = table.value.body
        end = next(n for n, (_, item) in enumerate(body) if item is entries)
    else:
        body = tables[index - 1].value.body
        end = len(body)
    start = _comments_start(body, end)
    moved = ""
    if index + 1 < len(tables):
        own = tables[index].value.body
        moved = "".join(item.as_string() for _, item in own[_comments_start(own, len(own)) :])
    for n in range(start, end):
        body[n] = (None, Null())  # in place: the container's key indices must not shift
    if moved:
        if start < end:
            body[start] = (None, _comment(moved))
        elif index > 0:
            body.append((None, _comment(moved)))
        elif start > 0 and isinstance(body[start - 1][1], Whitespace):
            body[start - 1] = (None, _comment(moved, body[start - 1][1].as_string()))
        elif start > 0:
            body[start - 1][1].trivia.trail += moved
    del entries[index]


def _comment(text: str, before: str = "") -> Comment:
    """Comment lines ``text`` (each ending in a newline) as one item, after ``before``."""
    return Comment(Trivia(indent=before, comment_ws="", comment=text, trail=""))


def _describe(entry: Any) -> str:
    devices = ", ".join(str(d) for d in entry.get("devices", []))
    who = f"{entry.get('remote_user')}@{entry.get('remote_host')} as {entry.get('local_user')}"
    return f"{who}: {devices} {entry.get('mode')}"


@access.command()
@click.argument("host", callback=_checked_host)
@click.pass_context
def reject(ctx: click.Context, host: str) -> None:
    """Refuse every connection from HOST (like SET SERVICE /REJECT)."""

    def change(table: Table) -> str:
        if "reject" not in table:
            table["reject"] = tomlkit.array()
        hosts = table["reject"]
        if not isinstance(hosts, list):
            _fail("access.reject: expected a list of strings")
        if host in hosts:
            return f"{host} is already rejected"
        hosts.append(host)
        return f"rejected {host}"

    _edit(ctx, change)


def _peer(user_at_host: str, address: str | None, port: int | None) -> tuple[str, Peer]:
    user, _, host = user_at_host.rpartition("@")
    if not user or not host:
        raise click.BadParameter(f"{user_at_host!r}: expected USER@HOST")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return user, Peer(address or "", port or 0, host)
    return user, Peer(host, port or 0)


@access.command()
@click.argument("user_at_host", metavar="USER@HOST")
@click.argument("device")
@click.option("--write", is_flag=True, help="Check an open for writing (default: reading).")
@click.option("--local-user", help="Whom the session acts as (default: USER).")
@click.option("--address", help="The host's address, when HOST is a name (never looked up).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Check as an rsh connection from this source port (the privileged-port rule).",
)
@click.pass_context
def check(
    ctx: click.Context,
    user_at_host: str,
    device: str,
    write: bool,
    local_user: str | None,
    address: str | None,
    port: int | None,
) -> None:
    """Say whether USER@HOST may open DEVICE (a name inside root or a drive), and why."""
    user, peer = _peer(user_at_host, address, port)
    try:
        spec_name = parse_device_spec(device).name  # as the opener: qualifiers are no part
    except DevSpecError as exc:
        raise click.BadParameter(f"{device!r}: {exc}") from None
    _, config = _load(ctx)
    drive = config.drive(spec_name)
    name = drive.name if drive is not None else grant_name(spec_name)
    if drive is None and ".." in name.split("/"):
        raise click.BadParameter(f"{device!r}: a name inside root has no '..'")
    policy = AccessPolicy(config.access)
    how = "writing" if write else "reading"
    try:
        grant = policy.admit(peer, user, local_user or user, via_rsh=port is not None)
        rule = grant.rule_for(name, write, drive=drive is not None)
    except AccessDenied as exc:
        click.echo(f"refused: the connection: {exc}")
        sys.exit(EXIT_REFUSED)
    except OSError as exc:
        click.echo(f"refused: {exc.strerror}")
        sys.exit(EXIT_REFUSED)
    click.echo(f"allowed: {grant.who} may open {device} for {how}: {rule}")
