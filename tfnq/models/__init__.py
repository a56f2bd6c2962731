"""Codecs: training step and exported compress/decompress."""

from tfnq.models.base import CompressionModel
from tfnq.models.hyperprior import MeanScaleHyperprior
from tfnq.models.linear import LinearCodec
from tfnq.models.variable_rate import VariableRateHyperprior

# Architecture name (as stored in exported metadata) -> model class.
ARCHITECTURES = {
    LinearCodec.architecture: LinearCodec,
    MeanScaleHyperprior.architecture: MeanScaleHyperprior,
    VariableRateHyperprior.architecture: VariableRateHyperprior,
}

__all__ = [
    "ARCHITECTURES",
    "CompressionModel",
    "LinearCodec",
    "MeanScaleHyperprior",
    "VariableRateHyperprior",
]
