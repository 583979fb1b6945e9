"""``vmt``: an mt for virtual and remote tape drives, and tools to make and inspect tape images.

``app`` holds the command group and mt's operations; ``images``, ``writing``, ``health``,
``convert``, ``drives``, ``gc`` and ``synth`` add their subcommands to it when imported here;
``stored`` opens the s3:// volumes they take.
"""

from rmtd.vmt import convert, drives, gc, health, images, synth, writing
from rmtd.vmt.app import main

__all__ = ["convert", "drives", "gc", "health", "images", "main", "synth", "writing"]
