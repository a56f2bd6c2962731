"""tfnq: neural image compression beyond plain rounding, on TensorFlow Compression."""

from tfnq import coders, distributions, entropy_models, layers, models, ops
from tfnq.coders import Coder, RangeCoder
from tfnq.distributions import SoftRoundAdaptedDensity, noisy_density
from tfnq.entropy_models import UniversalBatchedEntropyModel
from tfnq.layers import (
    BlockAnalysis,
    BlockSynthesis,
    SoftRound,
    SoftRoundConditionalMean,
    SoftRoundInverse,
)
from tfnq.models import MODES, LinearCodec, get_mode

__version__ = "0.1.0"

__all__ = [
    "BlockAnalysis",
    "BlockSynthesis",
    "Coder",
    "LinearCodec",
    "MODES",
    "RangeCoder",
    "SoftRound",
    "SoftRoundAdaptedDensity",
    "SoftRoundConditionalMean",
    "SoftRoundInverse",
    "UniversalBatchedEntropyModel",
    "coders",
    "distributions",
    "entropy_models",
    "get_mode",
    "layers",
    "models",
    "noisy_density",
    "ops",
]
