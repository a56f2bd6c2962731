"""Rounding: the test-time quantizer of the usual uniform-noise training (UN+Q).

`K = round(y)` (around a predicted mean, if the entropy model is given a location),
reconstructed as `K`; one coding table per density.
"""

import tensorflow as tf

from tfnq.quantizers.base import ScalarQuantizer

__all__ = ["Rounding"]


class Rounding(ScalarQuantizer):
    """`round(y)`; every element at the one level, offset 0."""

    name = "round"
    num_levels = 1

    def level_offset(self, levels, dtype=tf.float32):
        return tf.zeros(tf.shape(levels), dtype)
