"""The AWS tape image format (``.aws``), after Hercules' ``awstape.c`` and ``tapedev.h``.

Records are stored raw in chunks of up to 65,535 bytes (see :mod:`devices.formats.chunks`);
a chunk carrying compression bits belongs to a HET image and is refused here, naming it.
"""

from __future__ import annotations

from devices.formats.chunks import (
    METHOD_NAMES,
    Block,
    BlockError,
    ChunkFormat,
    ForeignBlockError,
)


class AwsFormat(ChunkFormat):
    """The AWS layout: chunked, uncompressed records and tapemarks."""

    name = "aws"

    def check_method(self, block: Block) -> None:
        """A compressed block makes the image a HET one; unknown compression bits are damage."""
        if block.method and block.method not in METHOD_NAMES:
            raise BlockError(f"record at offset {block.offset}: unknown compression bits")
        if block.method:
            method = METHOD_NAMES[block.method]
            raise ForeignBlockError(
                f"record at offset {block.offset} is compressed ({method}): a HET tape image"
            )
