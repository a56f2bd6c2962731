"""Universal quantization: rounding against a dither that encoder and decoder share.

Sec. 3.2 of

> "Universally Quantized Neural Compression"<br />
> E. Agustsson, L. Theis, NeurIPS 2020 (arXiv:2006.09952)

The encoder sends `K = round(y - u)` and the decoder forms `K + u`, so both need the
same `u` for every element. It is drawn from a stateless PRNG with a fixed seed, so it
depends only on the shape of the latents (the same on any device), and quantized to
`L` levels `(j + 1) / (L + 1) - 1/2`, `j = 0 .. L-1`, so that a coding table can be
built for each level. With uniform noise in training, `K + u` has exactly the
training distribution (Eq. 5); the coded symbols' distribution is `p(k + u)`.

The seed and the level formula are tensorflow-compression's (`universal.py`), so
files of models coded through tfc's universal entropy models decode unchanged.
"""

import tensorflow as tf

from tfnq.quantizers.base import ScalarQuantizer

__all__ = [
    "SEED",
    "UniversalQuantizer",
    "levels",
    "offsets",
]

SEED = (1234, 1234)


def levels(shape, num_levels):
    """The dither level (int32 in [0, num_levels)) of each element of `shape`."""
    return tf.random.stateless_uniform(shape, seed=SEED, minval=0, maxval=num_levels,
                                       dtype=tf.int32)


def offsets(levels_, num_levels, dtype=tf.float32):
    """The dither value of each level: `(j + 1) / (L + 1) - 1/2`.

    Computed in float64 and rounded once to `dtype`. (tfc computes the offsets of its
    tables in float32 and those of a batched model's elements in float64; for the
    levels tfnq uses, 15 and 1, both are exact, so the three agree.)
    """
    return tf.cast((tf.cast(levels_, tf.float64) + 1) / (num_levels + 1) - 0.5, dtype)


class UniversalQuantizer(ScalarQuantizer):
    """Rounding against the shared dither, quantized to `num_levels` values."""

    name = "universal"

    def __init__(self, num_levels=15):
        if int(num_levels) < 1:
            raise ValueError(f"num_levels must be at least 1, not {num_levels}")
        self.num_levels = int(num_levels)

    def level_offset(self, levels_, dtype=tf.float32):
        return offsets(levels_, self.num_levels, dtype)

    def element_levels(self, shape):
        # With one level the dither is 0 everywhere: no PRNG draw.
        return None if self.num_levels == 1 else levels(shape, self.num_levels)

    def get_config(self):
        return dict(name=self.name, num_levels=self.num_levels)
