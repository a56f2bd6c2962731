"""Quantizers: latents to symbols and back, and their training-time surrogates."""

from tfnq.quantizers.base import ScalarQuantizer
from tfnq.quantizers.rounding import Rounding
from tfnq.quantizers.soft_round_channel import SoftRoundChannel
from tfnq.quantizers.universal import UniversalQuantizer

__all__ = [
    "QUANTIZERS",
    "Rounding",
    "ScalarQuantizer",
    "SoftRoundChannel",
    "UniversalQuantizer",
    "get_quantizer",
]

# Name (as in a coding configuration) -> class.
QUANTIZERS = {Rounding.name: Rounding, UniversalQuantizer.name: UniversalQuantizer}


def get_quantizer(config):
    """A quantizer from its configuration (`{"name": ..., **arguments}`)."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in QUANTIZERS:
        raise ValueError(f"Unknown quantizer {name!r}; choose one of {sorted(QUANTIZERS)}")
    return QUANTIZERS[name](**config)
