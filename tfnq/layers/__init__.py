"""Keras layers."""

from tfnq.layers.block_transform import BlockAnalysis, BlockSynthesis, block_basis
from tfnq.layers.hyperprior_transforms import (
    AnalysisTransform,
    HyperAnalysisTransform,
    HyperSynthesisTransform,
    SynthesisTransform,
)
from tfnq.layers.integer_transform import ACTIVATION_BITS, IntegerTransform
from tfnq.layers.signal_conv import SignalConv2D
from tfnq.layers.soft_round import SoftRound, SoftRoundConditionalMean, SoftRoundInverse
from tfnq.layers.subpixel import SubpixelTransform

__all__ = [
    "ACTIVATION_BITS",
    "AnalysisTransform",
    "BlockAnalysis",
    "BlockSynthesis",
    "HyperAnalysisTransform",
    "HyperSynthesisTransform",
    "IntegerTransform",
    "SignalConv2D",
    "SoftRound",
    "SoftRoundConditionalMean",
    "SoftRoundInverse",
    "SubpixelTransform",
    "SynthesisTransform",
    "block_basis",
]
