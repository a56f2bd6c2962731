"""Keras layers."""

from tfnq.layers.block_transform import BlockAnalysis, BlockSynthesis, block_basis
from tfnq.layers.soft_round import SoftRound, SoftRoundConditionalMean, SoftRoundInverse

__all__ = [
    "BlockAnalysis",
    "BlockSynthesis",
    "SoftRound",
    "SoftRoundConditionalMean",
    "SoftRoundInverse",
    "block_basis",
]
