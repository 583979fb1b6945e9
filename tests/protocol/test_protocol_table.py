"""The command table (one row per letter) and the V1 number tables (dump's and Schily's rmt.c)."""

from __future__ import annotations

from rmtd.protocol import COMMANDS
from rmtd.protocol.v1 import PROTOCOL_VERSION, STATUS_FIELDS, V1_EXTENDED_OPS, V1_IOCTL_OPS


def test_one_row_per_command_letter() -> None:
    assert {chr(key): spec.letter for key, spec in COMMANDS.items()} == {
        letter: letter for letter in "OCLWRIiSsVv"
    }
    assert {spec.letter: len(spec.lines) for spec in COMMANDS.values()} == {
        "O": 2,
        "C": 1,
        "L": 2,
        "W": 1,
        "R": 1,
        "I": 2,
        "i": 2,
        "S": 0,
        "s": 0,
        "V": 1,
        "v": 1,
    }
    assert [spec.letter for spec in COMMANDS.values() if spec.payload] == ["W"]
    assert {spec.letter: spec.raw for spec in COMMANDS.values() if spec.raw} == {"s": 1}


def test_v1_tables() -> None:
    assert PROTOCOL_VERSION == 1
    # the portable 0..7, then dump's Solaris-numbered 8..10 (dump's rmt/rmt.c)
    assert [V1_IOCTL_OPS[op] for op in range(11)] == [5, 1, 2, 3, 4, 6, 7, 8, 9, 13, 12]
    assert 11 not in V1_IOCTL_OPS
    # i: only RETEN, ERASE and EOM exist on Linux
    assert V1_EXTENDED_OPS == {2: 9, 3: 13, 4: 12}
    # s: librmt (remote.c) asks sE sT sD sR sF sB sf sb
    assert set(STATUS_FIELDS) == set("ETDRFBfb")
