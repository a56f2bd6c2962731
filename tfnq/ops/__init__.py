"""Stateless math on tensors."""

from tfnq.ops.expected_gradients import apply_with_noise, expected_derivative
from tfnq.ops.soft_rounding import (
    noisy_soft_round_reconstruction,
    soft_round,
    soft_round_conditional_mean,
    soft_round_inverse,
)

__all__ = [
    "apply_with_noise",
    "expected_derivative",
    "noisy_soft_round_reconstruction",
    "soft_round",
    "soft_round_conditional_mean",
    "soft_round_inverse",
]
