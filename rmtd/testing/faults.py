"""Faults for tapes in test suites, and the configuration that gives them to rmtd.

:class:`Faults` and :class:`NthError` are :mod:`devices.faults`'; :func:`faults_config` writes
them as the ``[faults."NAME"]`` tables ``rmtd --config`` reads (:mod:`rmtd.faults_config`).
"""

from __future__ import annotations

from collections.abc import Mapping

import tomlkit

from devices.faults import Faults, NthError

__all__ = ["Faults", "NthError", "faults_config"]


def faults_config(faults: Mapping[str, Faults]) -> str:
    """The TOML text of ``[faults."NAME"]`` tables for ``faults`` (device name -> faults).

    Append it to a configuration, or give it to ``rmtd --config`` alone.
    """
    document = tomlkit.document()
    table = tomlkit.table(is_super_table=True)
    for name, fault in faults.items():
        table.add(name, _table(fault))
    document.add("faults", table)
    return tomlkit.dumps(document)


def _table(faults: Faults) -> tomlkit.items.Table:
    table = tomlkit.table()
    for key, error in (("read_error", faults.read_error), ("write_error", faults.write_error)):
        if error is not None:
            table.add(key, _error(error))
    for key, value in (
        ("early_warning_at", faults.early_warning_at),
        ("end_of_medium_at", faults.end_of_medium_at),
        ("disappear_after", faults.disappear_after),
    ):
        if value is not None:
            table.add(key, value)
    if faults.delay:
        table.add("delay", faults.delay)
    return table


def _error(error: NthError) -> tomlkit.items.InlineTable:
    inline = tomlkit.inline_table()
    inline.update({"at": error.at, "errno": error.errno_name})
    if error.every:
        inline["every"] = error.every
    return inline
