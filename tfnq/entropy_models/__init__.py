"""Modules that turn latents into bits and back."""

from tfnq.entropy_models.universal_batched import UniversalBatchedEntropyModel
from tfnq.entropy_models.universal_indexed import UniversalIndexedEntropyModel

__all__ = [
    "UniversalBatchedEntropyModel",
    "UniversalIndexedEntropyModel",
]
