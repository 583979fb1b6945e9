"""Who may use the server (STAND-IN: the "access" helper writes the real module).

This file implements only the shared contract's names, with the behaviour of a server that has
no ``[access]`` table: :meth:`AccessPolicy.open_to_all` admits every connection and every open.
The real module replaces it whole.
"""

from __future__ import annotations

from dataclasses import dataclass


class AccessDenied(Exception):  # noqa: N818 (the contract's name)
    """A refusal; ``str()`` is one line naming the rule (or the lack of one) that refused."""


@dataclass(frozen=True, slots=True)
class Peer:
    """The client at the other end of a connection.

    Attributes:
        address: its IP address, as text (``"127.0.0.1"``, ``"::1"``).
        port: its source port (rsh's privileged-port rule).
        name: its host name if known (the caller does the reverse lookup).
    """

    address: str
    port: int
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """What one admitted session may do.

    Attributes:
        remote_user: the user on the client's host.
        local_user: whose files the session acts as.
    """

    remote_user: str
    local_user: str

    def check_open(self, name: str, write: bool) -> None:
        """Raise ``OSError(EACCES, ...)`` unless ``name`` may be opened so (stand-in: never)."""
        del name, write

    def describe(self) -> str:
        """One line for the audit log and ``access check``."""
        return f"{self.remote_user} as {self.local_user}: every device (no [access] table)"


class AccessPolicy:
    """The access rules (stand-in: only :meth:`open_to_all`)."""

    def __init__(self, config: object = None) -> None:
        self._config = config

    @classmethod
    def open_to_all(cls) -> AccessPolicy:
        """The policy of a server without an ``[access]`` table: everything allowed."""
        return cls()

    @property
    def enforced(self) -> bool:
        """False for :meth:`open_to_all`."""
        return self._config is not None

    def admit(self, peer: Peer, remote_user: str, local_user: str, *, via_rsh: bool) -> Grant:
        """Decide the connection (stand-in: admitted as asked).

        Raises:
            AccessDenied: never, in the stand-in.
        """
        del peer, via_rsh
        return Grant(remote_user, local_user)
