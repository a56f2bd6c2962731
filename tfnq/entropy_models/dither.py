"""The shared dither of universal quantization, quantized to a few levels.

Sec. 3.2 of Agustsson & Theis (NeurIPS 2020): the encoder sends `K = round(y - u)`
and the decoder forms `K + u`, so both need the same `u` for every element. It is
drawn from a stateless PRNG with a fixed seed, so it depends only on the shape of
the latents (the same on any device), and quantized to `L` levels
`(j + 1) / (L + 1) - 1/2`, `j = 0 .. L-1`, so that a coding table can be built for
each level. With one level the offset is 0: rounding.

The seed and the level formula are tensorflow-compression's (`universal.py`), so
files of models coded through tfc's universal entropy models decode unchanged.
"""

import tensorflow as tf

__all__ = [
    "SEED",
    "dithered_rows",
    "level_offsets",
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


def level_offsets(num_levels, rank, dtype=tf.float32):
    """Every level's offset, shaped `[num_levels] + [1] * rank` (one table per level)."""
    return offsets(tf.reshape(tf.range(num_levels), [-1] + [1] * rank), num_levels, dtype)


def dithered_rows(rows, stride, num_levels, dtype=tf.float32):
    """Table rows of dithered elements, and their dither.

    Args:
      rows: int32 table row of every element at level 0.
      stride: Rows per level (the tables of a level follow those of the one before).
      num_levels: Number of dither levels (1: rounding, no PRNG draw, offset 0).
      dtype: dtype of the offsets.

    Returns:
      `(rows + level * stride, offset)`, the offset a scalar 0 with one level.
    """
    if num_levels == 1:
        return rows, tf.zeros([], dtype)
    drawn = levels(tf.shape(rows), num_levels)
    return rows + drawn * stride, offsets(drawn, num_levels, dtype)
