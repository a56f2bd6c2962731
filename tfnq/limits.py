"""The image sizes tfnq codes, and their checks.

A file declares its image's height and width; larger declarations are refused before
any decoding, so that a forged header cannot make a decoder allocate unbounded
memory (the exported `decompress` checks them in the graph, `tfnq.client.Codec` and
the exported `compress` check images against them too).
"""

__all__ = ["MAX_PIXELS", "MAX_SIDE", "image_size_error"]

MAX_SIDE = 1 << 16  # Largest image side.
MAX_PIXELS = 1 << 26  # Largest pixel count.


def image_size_error(height, width):
    """A one-line message if an image of this size cannot be coded, else None."""
    if height < 1 or width < 1:
        return "tfnq: the image is empty"
    if max(height, width) > MAX_SIDE or height * width > MAX_PIXELS:
        return (f"tfnq: images above {MAX_SIDE} pixels a side or {MAX_PIXELS} pixels are "
                "not supported")
    return None
