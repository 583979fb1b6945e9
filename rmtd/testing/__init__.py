"""Tapes for test suites: synthetic tape images built in code, the same bytes every run.

``rmtd.testing`` is what a test suite imports (as ``numpy.testing`` is): :class:`Tape` and the
contents of its records (:class:`Random`, :class:`Pattern`, :class:`Data`, :class:`Tar`) build
an image of any format rmtd writes; ``vmt synth`` builds the same images from a TOML spec.
See :mod:`rmtd.testing.tape`. :class:`Faults` make a tape fail as real tapes fail, and
:func:`faults_config` gives them to rmtd as configuration (:mod:`rmtd.testing.faults`).
"""

from rmtd.testing.contents import Content, ContentError, Data, Pattern, Random, Records, Tar
from rmtd.testing.faults import Faults, NthError, faults_config
from rmtd.testing.tape import FORMATS, Entry, SynthError, Tape, Written

__all__ = [
    "FORMATS",
    "Content",
    "ContentError",
    "Data",
    "Entry",
    "Faults",
    "NthError",
    "Pattern",
    "Random",
    "Records",
    "SynthError",
    "Tape",
    "Tar",
    "Written",
    "faults_config",
]
