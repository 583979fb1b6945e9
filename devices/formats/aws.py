"""The AWS tape image format (``.aws``), after Hercules' ``awstape.c`` and ``tapedev.h``.

Records are stored raw in chunks of up to 65,535 bytes (see :mod:`devices.formats.chunks`);
a chunk carrying compression bits belongs to a HET image and is refused here, naming it.
"""

from __future__ import annotations

from devices.formats.chunks import METHOD_NAMES, Block, ChunkFormat, ForeignBlockError


class AwsFormat(ChunkFormat):
    """The AWS layout: chunked, uncompressed records and tapemarks."""

    name = "aws"

    def check_method(self, block: Block) -> None:
        """A compressed block makes the image a HET one."""
        if block.method:
            method = METHOD_NAMES.get(block.method, "unknown")
            raise ForeignBlockError(
                f"record at offset {block.offset} is compressed ({method}): a HET tape image"
            )
