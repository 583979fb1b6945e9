"""A scripted RMT server for client tests: ``fakermt.py [--hang] HEX...``.

Parses requests BSD-style (one command letter, then its argument lines; ``S`` alone, ``s``
plus one byte, ``W`` plus its payload) and answers the n-th request with the n-th argument,
hex-decoded and sent as is. When the script runs out it exits, or with ``--hang`` reads
requests without answering until its input ends.
"""

from __future__ import annotations

import sys

_LINES = {"O": 2, "L": 2, "I": 2, "i": 2, "C": 1, "R": 1, "W": 1, "V": 1, "v": 1}


def main(replies: list[bytes], hang: bool) -> None:
    """Serve one scripted session on standard input and output."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while replies or hang:
        letter = stdin.read(1).decode("latin-1")
        if not letter:
            return
        if letter == "s":
            stdin.read(1)
        lines = [stdin.readline() for _ in range(_LINES.get(letter, 0))]
        if letter == "W":
            stdin.read(int(lines[0]))
        if replies:
            stdout.write(replies.pop(0))
            stdout.flush()


if __name__ == "__main__":
    args = sys.argv[1:]
    hang = args[:1] == ["--hang"]
    main([bytes.fromhex(arg) for arg in args[hang:]], hang)
