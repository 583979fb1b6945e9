"""Building a server from its configuration: shared by stdio mode and ``rmtd listen``.

Both modes read the same configuration (``--config``, else ``$RMTD_CONFIG``, else
``/etc/rmtd.toml`` when present), let command-line options win over it, log the same way, and
serve each connection with the same session/opener stack; only the transport differs.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import sys
from collections.abc import Mapping

import click

from devices.stored.volume import Store
from rmtd.access import AccessPolicy, Grant
from rmtd.audit import AuditLog
from rmtd.config import ConfigError, ServerConfig, read_config
from rmtd.drives import DriveStore
from rmtd.opener import DeviceOpener, OpenerConfig
from rmtd.protocol import CommandParser
from rmtd.session import Session, SessionConfig

LOG_FORMAT = "rmtd[%(process)d] %(levelname)s %(name)s: %(message)s"
EXIT_CONFIG = 2

# The options every serving mode takes, spelled once.
config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="TOML configuration (default: $RMTD_CONFIG, else /etc/rmtd.toml if present).",
)
root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True),
    help="Resolve every device name inside this directory (wins over the config's root).",
)
read_only_option = click.option("--read-only", is_flag=True, help="Refuse every open for writing.")
log_option = click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False),
    help="Log to this file (default: standard error).",
)
audit_option = click.option(
    "--audit",
    "audit_target",
    metavar="FILE|syslog",
    help="Record connections, opens, closes and refusals, one JSON line each.",
)


def open_audit(target: str | None) -> AuditLog:
    """The audit log ``--audit`` names; exit 2 with a message when it cannot be opened."""
    try:
        return AuditLog.to(target)
    except OSError as exc:
        click.echo(f"rmtd: cannot open the audit log {target}: {exc.strerror}", err=True)
        sys.exit(EXIT_CONFIG)


def load_server_config(
    config_file: str | None, overrides: Mapping[str, object | None]
) -> tuple[ServerConfig, DriveStore | None]:
    """Read the configuration and apply the command line's overrides (``None``: not given).

    Raises:
        ConfigError: the configuration cannot be used (the message names file, line and key).
    """
    config = read_config(config_file, os.environ)
    given = {key: value for key, value in overrides.items() if value is not None}
    config = dataclasses.replace(config, **given)  # type: ignore[arg-type]
    drives = DriveStore(config) if config.drives else None
    return config, drives


def setup_logging(verbose: int, log_file: str | None) -> None:
    """Log to ``log_file`` (else standard error), more with each ``-v``.

    Raises:
        OSError: the log file cannot be opened.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    logging.basicConfig(level=level, handlers=[handler], format=LOG_FORMAT)
    # boto3's own INFO lines ("Found credentials in environment variables") on every open of
    # a stored volume say nothing an administrator needs; its warnings and errors still show.
    logging.getLogger("botocore").setLevel(max(level, logging.WARNING))


def verify_stores(config: ServerConfig) -> None:
    """Refuse, at start, a configured store that cannot serve volumes safely.

    Each store must be reachable with the credentials given and must refuse a second
    conditional create of one key (compare-and-swap; see devices.stored.objects).

    Raises:
        ConfigError: naming the store and what is wrong with it.
    """
    for name, settings in config.stores.items():
        try:
            Store(settings).verify()
        except OSError as exc:
            raise ConfigError(f"[stores.{name}]: {exc.strerror}") from None


def policy_of(config: ServerConfig) -> AccessPolicy:
    """The access policy of ``config``: its ``[access]`` table, else open to all."""
    if config.access is None:
        return AccessPolicy.open_to_all()
    return AccessPolicy(config.access)


def settle_heap() -> None:
    """Exempt everything alive now (modules, configuration) from the cyclic garbage collector.

    Called once a process is about to serve its one session. The collector runs after every
    few hundred allocations, and each older-generation pass walks every tracked object: with
    the imported modules that is tens of thousands of objects, a pause in the middle of a
    stream of records (``perf`` showed ``gc_collect_main`` among the top user-space symbols
    of a W stream). What the session allocates itself is collected as usual.
    """
    gc.freeze()


def build_session(
    config: ServerConfig,
    drives: DriveStore | None,
    read_only: bool,
    grant: Grant | None = None,
    audit: AuditLog | None = None,
) -> tuple[Session, CommandParser]:
    """The session and parser that serve one connection under ``config`` (``grant``, ``audit``)."""
    opener_config = OpenerConfig(
        root=config.root,
        read_only=read_only,
        max_record=config.max_record,
        max_filemarks=config.max_filemarks,
        sync=config.sync,
        state_dir=config.state_path,
        defaults=config.defaults,
        faults=config.faults,
        stores={name: Store(settings) for name, settings in config.stores.items()},
    )
    opener = DeviceOpener(opener_config, drives, grant)
    session = Session(opener.open, SessionConfig(lseek_order=config.lseek_order), audit)
    return session, CommandParser(max_record=config.max_record)
