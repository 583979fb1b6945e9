"""``vmt``: an mt for virtual and remote tape drives, and tools to make and inspect tape images.

``app`` holds the command group and mt's operations; ``images``, ``writing``, ``health``,
``convert`` and ``drives`` add their subcommands to it when imported here.
"""

from rmtd.vmt import convert, drives, health, images, writing
from rmtd.vmt.app import main

__all__ = ["convert", "drives", "health", "images", "main", "writing"]
