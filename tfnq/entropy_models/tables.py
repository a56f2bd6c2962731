"""Coding tables: the integer CDFs an entropy coder codes with, as a value type.

Tables are computed once, from the densities of a trained model, and stored with it
(as variables of its entropy models, so a SavedModel carries them): encoder and
decoder must use the very same integers, and recomputing them on another machine may
round differently (Ballé, Johnston & Minnen, "Integer Networks for Data Compression
with Latent-Variable Models", ICLR 2019; tfc's `continuous_base.py` says the same).

Layout ("tfc-flat", what `tfnq.coders.RangeCoder` takes): `cdf` concatenates, for
each table, `[-precision, c_0, ..., c_n]`, a quantized CDF whose last interval is
the overflow bin (symbols outside the table are coded through it with an escape
code); `cdf_offset[i]` is the value of table `i`'s first symbol.

`build_tables` samples a density as tensorflow-compression's entropy models do (the
same tails, the same sampling grid, its public `pmf_to_quantized_cdf` op), so tables
built here equal tfc's bit for bit.
"""

import dataclasses

import tensorflow as tf
import tensorflow_compression as tfc

__all__ = [
    "LAYOUT",
    "CodingTables",
    "build_tables",
]

LAYOUT = "tfc-flat"


@dataclasses.dataclass(frozen=True)
class CodingTables:
    """Quantized CDF tables (see the module docstring for the layout).

    Attributes:
      cdf: int32 vector, the tables one after another.
      cdf_offset: int32 vector, the first symbol value of each table.
      precision: Bits of the quantized CDFs.
    """

    cdf: tf.Tensor
    cdf_offset: tf.Tensor
    precision: int

    layout = LAYOUT

    @property
    def num_tables(self):
        return int(self.cdf_offset.shape[0])


def build_tables(prior, precision, tail_mass, offset=None):
    """Tables of the PMFs of `round(Y - offset)` for each density of `prior`.

    Args:
      prior: A scalar `tfp.distributions.Distribution` with a batch shape; each
        batch element gets a table (for each offset).
      precision: Bits of the quantized CDFs.
      tail_mass: Probability mass left outside each table (coded by the escape).
      offset: Optional float tensor of sub-integer offsets in [-1/2, 1/2),
        broadcastable against the prior's batch shape (e.g. `[levels, 1]`: one table
        per dither level and density).

    Returns:
      `CodingTables`, one table per element of the broadcast of `offset` and the
      batch shape, in row-major order.
    """
    precision = int(precision)
    offset = tf.cast(0 if offset is None else offset, prior.dtype)
    # tfc estimates the tails of densities without closed-form quantiles (e.g.
    # DeepFactorized) by a loop of gradient steps; as a graph it takes a second, run
    # eagerly some 15 s per tail.
    lower_tail, upper_tail = tf.function(
        lambda: (tfc.lower_tail(prior, tail_mass), tfc.upper_tail(prior, tail_mass)),
        autograph=False)()
    # Integers such that minima + offset < lower_tail and maxima + offset > upper_tail.
    minima = tf.cast(tf.math.floor(lower_tail - offset), tf.int32)
    maxima = tf.cast(tf.math.ceil(upper_tail - offset), tf.int32)
    pmf_start = tf.cast(minima, prior.dtype) + offset
    pmf_length = maxima - minima + 1

    max_length = tf.math.reduce_max(pmf_length)
    samples = tf.range(tf.cast(max_length, prior.dtype), dtype=prior.dtype)
    samples = tf.reshape(samples, [-1] + pmf_length.shape.rank * [1])
    samples += pmf_start
    pmf = prior.prob(samples)
    pmf_shape = tf.shape(pmf)[1:]
    num_pmfs = tf.reduce_prod(pmf_shape)
    pmf = tf.transpose(tf.reshape(pmf, [max_length, num_pmfs]))
    pmf_length = tf.reshape(tf.broadcast_to(pmf_length, pmf_shape), [num_pmfs])
    cdf_offset = tf.reshape(tf.broadcast_to(minima, pmf_shape), [num_pmfs])
    header = tf.constant([-precision], dtype=tf.int32)

    with tf.device("/cpu:0"):
        def table(i, cdf):
            p = pmf[i, :pmf_length[i]]
            overflow = tf.math.maximum(1. - tf.reduce_sum(p, keepdims=True), 0.)
            p = tf.cast(tf.concat([p, overflow], 0), tf.float32)
            quantized = tfc.pmf_to_quantized_cdf(p, precision=precision)
            return i + 1, tf.concat([cdf, header, quantized], 0)

        _, cdf = tf.while_loop(
            lambda i, _: i < num_pmfs, table, (tf.constant(0), tf.constant([], tf.int32)),
            shape_invariants=(tf.TensorShape([]), tf.TensorShape([None])),
            name="pmf_to_cdf")
    return CodingTables(cdf=cdf, cdf_offset=cdf_offset, precision=precision)
