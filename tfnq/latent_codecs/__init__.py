"""Latent codecs: the stage between a model's analysis and synthesis transforms."""

from tfnq.latent_codecs.base import LatentCodec, make_quantizer
from tfnq.latent_codecs.factorized import FactorizedLatentCodec
from tfnq.latent_codecs.mean_scale_hyperprior import MeanScaleHyperpriorLatentCodec

__all__ = [
    "FactorizedLatentCodec",
    "LatentCodec",
    "MeanScaleHyperpriorLatentCodec",
    "make_quantizer",
]
