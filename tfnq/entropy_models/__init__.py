"""Modules that turn latents into bits and back."""

from tfnq.entropy_models.universal_batched import UniversalBatchedEntropyModel

__all__ = ["UniversalBatchedEntropyModel"]
