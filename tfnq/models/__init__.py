"""Codecs: training step and exported compress/decompress."""

from tfnq.models.linear import LinearCodec
from tfnq.models.modes import MODES, Mode, get_mode

# Architecture name (as stored in exported metadata) -> model class.
ARCHITECTURES = {LinearCodec.architecture: LinearCodec}

__all__ = [
    "ARCHITECTURES",
    "LinearCodec",
    "MODES",
    "Mode",
    "get_mode",
]
