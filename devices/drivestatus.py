"""``struct mtget`` as Linux ``st`` fills it, from a drive's state (``st_ioctl``, MTIOCGET).

The general status bits follow ``st.c``: ``GMT_BOT`` at file 0 block 0, ``GMT_EOF`` at block 0
of any other file (known or not), ``GMT_EOD`` after a motion met the end of data, ``GMT_EOT``
inside the early-warning zone, ``GMT_WR_PROT`` for a write-protected volume or open, the
density bits for the three reel densities; an empty drive reports ``GMT_DR_OPEN`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.interface import MT_ISSCSI2, UNKNOWN, DriveStatus, GeneralStatus
from devices.state import DriveState, VolumeInfo

_DENSITY_BITS = {1: GeneralStatus.D_800, 2: GeneralStatus.D_1600, 3: GeneralStatus.D_6250}


@dataclass(frozen=True, slots=True)
class Conditions:
    """What the status needs beyond the drive's and the volume's state.

    Attributes:
        write_protected: the volume or this open is write-protected.
        past_early_warning: the position lies in the early-warning zone.
    """

    write_protected: bool
    past_early_warning: bool


def status_of(state: DriveState, volume: VolumeInfo, conditions: Conditions) -> DriveStatus:
    """Return the ``struct mtget`` fields for a drive in ``state`` holding ``volume``."""
    if not state.loaded:
        empty = GeneralStatus.DR_OPEN | GeneralStatus.IM_REP_EN
        return DriveStatus(
            MT_ISSCSI2, 0, state.block_size, volume.density, empty, 0, UNKNOWN, UNKNOWN
        )
    gstat = GeneralStatus.ONLINE | GeneralStatus.IM_REP_EN
    gstat |= _DENSITY_BITS.get(volume.density, GeneralStatus.NONE)
    if state.fileno == 0 and state.blkno == 0:
        gstat |= GeneralStatus.BOT
    elif state.blkno == 0 and state.fileno != 0:  # st: a known or unknown file, block 0
        gstat |= GeneralStatus.EOF
    if state.at_eod:
        gstat |= GeneralStatus.EOD
    if conditions.write_protected:
        gstat |= GeneralStatus.WR_PROT
    if conditions.past_early_warning:
        gstat |= GeneralStatus.EOT
    return DriveStatus(
        MT_ISSCSI2, 0, state.block_size, volume.density, gstat, 0, state.fileno, state.blkno
    )
