"""Codecs: training step and exported compress/decompress."""

from tfnq.models.linear import LinearCodec
from tfnq.models.modes import MODES, Mode, get_mode

__all__ = [
    "LinearCodec",
    "MODES",
    "Mode",
    "get_mode",
]
