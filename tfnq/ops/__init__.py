"""Stateless math on tensors."""

from tfnq.ops.expected_gradients import apply_with_noise, expected_derivative
from tfnq.ops.leb128 import leb128_decode, leb128_encode
from tfnq.ops.rdft import irdft_kernel, irdft_matrix
from tfnq.ops.soft_rounding import (
    noisy_soft_round_reconstruction,
    soft_round,
    soft_round_conditional_mean,
    soft_round_inverse,
)

__all__ = [
    "apply_with_noise",
    "expected_derivative",
    "irdft_kernel",
    "irdft_matrix",
    "leb128_decode",
    "leb128_encode",
    "noisy_soft_round_reconstruction",
    "soft_round",
    "soft_round_conditional_mean",
    "soft_round_inverse",
]
