"""Entropy model for conditionally coded latents with universal quantization.

Sec. 3.2 and Eq. 23 of

> "Universally Quantized Neural Compression"<br />
> E. Agustsson, L. Theis, NeurIPS 2020 (arXiv:2006.09952)

Each latent element has its own density, chosen by an index (e.g. the quantized
log-scale a hyper-synthesis predicts). The encoder sends `K = round(y - u)`, the
decoder forms `K + u`, and `K` is coded with `P(K = k | u, i) = p_i(k + u)` where
`p_i` is the density of `Y + U` for index `i`.

The engine is tensorflow-compression's `UniversalIndexedEntropyModel` (shared,
quantized dither from a stateless PRNG; one coding table per index and noise level).
tfnq adds, as for the batched model:

* `dither=False`: one noise level with offset 0, i.e. plain rounding coded with
  `p_i(k)` -- the UN+Q baseline -- on the same code path;
* coding through a `tfnq.coders.Coder`;
* indexes rounded to the table grid wherever the model is evaluated for coding
  (`training=False`, `quantize`, `compress`, `decompress`), so the estimate uses
  the very tables the coder uses (tfc truncates in `compress` but evaluates the
  prior at the unrounded index in `__call__`);
* an optional location `loc`: the residual `y - loc` is what goes through the
  channel, and `loc` is added back after decoding;
* a decode check with a clear error for damaged data.
"""

import tensorflow as tf
import tensorflow_compression as tfc
from tensorflow_compression.python.entropy_models import universal as tfc_universal

from tfnq.coders import RangeCoder

__all__ = ["UniversalIndexedEntropyModel"]

# The seed of the stateless PRNG from which tfc's universal entropy models draw the
# shared dither (`tensorflow_compression/python/entropy_models/universal.py`).
DITHER_SEED = (1234, 1234)


class UniversalIndexedEntropyModel(tfc.UniversalIndexedEntropyModel):
    """Indexed (conditional) entropy model with universal or plain quantization.

    Training: `__call__(y, indexes, training=True)` returns `(y + u, bits)` with
    `bits = -log2 p_indexes(y + u)` summed over the `coding_rank` innermost
    dimensions (expected gradients, Eq. 17, if `expected_grads`); indexes stay
    continuous so that gradients reach the network that predicts them.

    Evaluation: `__call__(y, indexes, training=False)` returns exactly what
    `decompress` produces and its information content under the coding tables.
    """

    def __init__(self, prior_fn, index_ranges, parameter_fns, coding_rank, dither=True,
                 compression=False, expected_grads=False, num_noise_levels=15,
                 tail_mass=2**-8, range_coder_precision=12, laplace_tail_mass=0.0,
                 coder=None, bottleneck_dtype=tf.float32):
        """Initializer.

        Args:
          prior_fn: Callable returning the density of `Y + U` from keyword
            parameters (e.g. `tfc.NoisyNormal`, or a soft-round adapted density).
          index_ranges: Number of values of each index dimension (the trailing
            dimension of `indexes`).
          parameter_fns: Dict of parameter name -> function of the (float) indexes.
          coding_rank: Number of innermost dimensions coded into one string.
          dither: True for universal quantization, False for rounding (UN+Q).
          compression: Build coding tables now (eager mode only).
          expected_grads: Use expected gradients (Eq. 17) for the rate.
          num_noise_levels: Number of quantized dither values when `dither`.
          tail_mass: Probability mass coded through the overflow escape.
          range_coder_precision: Bits of precision of the coding tables.
          laplace_tail_mass: Optional Laplace mixture weight for training stability.
          coder: A `tfnq.coders.Coder`; defaults to `RangeCoder()`.
          bottleneck_dtype: dtype of the latents.
        """
        self._dither = bool(dither)
        super().__init__(
            prior_fn=prior_fn,
            index_ranges=index_ranges,
            parameter_fns=parameter_fns,
            coding_rank=coding_rank,
            compression=compression,
            laplace_tail_mass=laplace_tail_mass,
            expected_grads=expected_grads,
            tail_mass=tail_mass,
            range_coder_precision=range_coder_precision,
            bottleneck_dtype=bottleneck_dtype,
            num_noise_levels=int(num_noise_levels) if dither else 1,
        )
        self.coder = coder if coder is not None else RangeCoder()

    @property
    def dither(self):
        """Whether coding uses universal quantization (True) or rounding (False)."""
        return self._dither

    @property
    def num_noise_levels(self):
        """Number of distinct dither values (1 for rounding)."""
        return self._num_noise_levels

    def _coding_indexes(self, indexes):
        """Table rows and dither offsets for float `indexes` `[..., len(index_ranges)]`.

        The rows and offsets tfc computes with `_add_offset_indexes`,
        `_normalize_indexes`, `_offset_from_indexes` and `_flatten_indexes` (the same
        PRNG draw, the same float arithmetic), without materializing the indexes with
        the noise level prepended or an integer `tensordot` per element; with one
        noise level (no dither) there is no draw at all and the offset is 0.

        Returns:
          `(rows, offset)`: int32 rows of `self.cdf`, shape `indexes.shape[:-1]`, and
          the offsets `u` (a scalar 0 without dither).
        """
        ranges = self.index_ranges_without_offsets
        indexes = self._normalize_indexes(
            tf.round(tf.convert_to_tensor(indexes, self.prior_dtype)))
        indexes = tf.cast(indexes, tf.int32)
        rows, stride = indexes[..., -1], ranges[-1]
        for k in range(len(ranges) - 2, -1, -1):
            rows += indexes[..., k] * stride
            stride *= ranges[k]
        if self._num_noise_levels == 1:
            # tfc's offset of level 0 of 1: (0 + 1) / (1 + 1) - 1/2 = 0.
            return rows, tf.zeros([], self.bottleneck_dtype)
        levels = tf.random.stateless_uniform(
            tf.shape(rows), seed=DITHER_SEED, minval=0, maxval=self._num_noise_levels,
            dtype=tf.int32)
        offset = tfc_universal._offset_indexes_to_offset(
            tf.cast(levels, self.prior_dtype), self._num_noise_levels, self.bottleneck_dtype)
        return rows + levels * stride, offset

    @staticmethod
    def _center(bottleneck, loc):
        return bottleneck if loc is None else bottleneck - loc

    @staticmethod
    def _uncenter(values, loc):
        return values if loc is None else values + loc

    def __call__(self, bottleneck, indexes, loc=None, training=True):
        """Perturbs (training) or quantizes `bottleneck - loc` and counts its bits.

        Args:
          bottleneck: Latents, at least `coding_rank` dimensions.
          indexes: Float indexes, shape `bottleneck.shape + [len(index_ranges)]`.
          loc: Optional location, broadcastable to `bottleneck`.
          training: Uniform noise (True) or the test-time quantizer (False).

        Returns:
          `(bottleneck_perturbed, bits)`.
        """
        bottleneck = tf.convert_to_tensor(bottleneck, dtype=self.bottleneck_dtype)
        if not training:
            indexes = tf.round(indexes)
        values, bits = super().__call__(
            self._center(bottleneck, loc), indexes, training=training)
        return self._uncenter(values, loc), bits

    @tf.Module.with_name_scope
    def quantize(self, bottleneck, indexes, loc=None):
        """The values the decoder will reconstruct: `round(y - loc - u) + u + loc`."""
        bottleneck = self._center(
            tf.convert_to_tensor(bottleneck, dtype=self.bottleneck_dtype), loc)
        _, offset = self._coding_indexes(indexes)
        return self._uncenter(tf.round(bottleneck - offset) + offset, loc)

    @tf.Module.with_name_scope
    def compress(self, bottleneck, indexes, loc=None):
        """Quantizes and codes `bottleneck - loc`; one string per coding unit."""
        self._check_compression()
        bottleneck = self._center(
            tf.convert_to_tensor(bottleneck, dtype=self.bottleneck_dtype), loc)
        rows, offset = self._coding_indexes(indexes)
        symbols = tf.cast(tf.round(bottleneck - offset), tf.int32)
        return self.coder.encode(symbols, rows, self.cdf, self.cdf_offset, self.coding_rank)

    @tf.Module.with_name_scope
    def decompress(self, strings, indexes, loc=None):
        """Decodes strings from `compress` given the same `indexes` (and `loc`).

        Raises:
          tf.errors.InvalidArgumentError: if a string does not decode cleanly.
        """
        self._check_compression()
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        rows, offset = self._coding_indexes(indexes)
        symbols, ok = self.coder.decode(strings, rows, self.cdf, self.cdf_offset)
        check = tf.debugging.assert_equal(
            ok, True, message="tfnq: entropy decoding failed (corrupted data)")
        with tf.control_dependencies([check]):
            symbols = tf.identity(symbols)
        values = tf.cast(symbols, self.bottleneck_dtype) + offset
        return self._uncenter(values, loc)

    def get_config(self):
        """Hyperparameters (prior_fn and parameter_fns are owned by the model)."""
        return dict(
            index_ranges=list(self.index_ranges_without_offsets),
            coding_rank=self.coding_rank,
            dither=self.dither,
            expected_grads=self.expected_grads,
            num_noise_levels=self.num_noise_levels,
            tail_mass=self.tail_mass,
        )
