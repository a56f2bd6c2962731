"""Entropy model for factorized latents coded with universal quantization.

Sec. 3.2 of

> "Universally Quantized Neural Compression"<br />
> E. Agustsson, L. Theis, NeurIPS 2020 (arXiv:2006.09952)

The encoder sends `K = round(y - u)` and the decoder forms `K + u`, which has the
distribution of `y + U` (Eq. 6); `K` is coded with `P(K = k | u) = p_{Y+U}(k + u)`,
so the coding cost is `h[Y + U]` (Eq. 7), the rate term the model was trained on.

The engine is tensorflow-compression's `UniversalBatchedEntropyModel`: it shares
the dither `u` between sender and receiver through a stateless PRNG with a fixed
seed, quantizes it to `num_noise_levels` values `(j + 1) / (L + 1) - 1/2` and builds
one coding table per channel and level. tfnq adds:

* `dither=False`: the same model with a single noise level, whose offset is 0,
  i.e. plain rounding coded with `P(k) = p_{Y+U}(k)` -- the UN+Q baseline -- so the
  train-time rate estimate, the test-time estimate and the coded bits come from one
  code path for every mode;
* entropy coding through a `tfnq.coders.Coder`, so the backend can be swapped
  (e.g. for one in core TF ops that stock TensorFlow Serving can run);
* a decode check with a clear error for damaged data.
"""

import tensorflow as tf
import tensorflow_compression as tfc

from tfnq.coders import RangeCoder

__all__ = ["UniversalBatchedEntropyModel"]


class UniversalBatchedEntropyModel(tfc.UniversalBatchedEntropyModel):
    """Batched (factorized) entropy model with universal or plain quantization.

    Training: `__call__(y, training=True)` returns `(y + u, bits)` with `u` uniform
    noise and `bits = -log2 p(y + u)` summed over the `coding_rank` innermost
    dimensions (with expected gradients, Eq. 17, if `expected_grads`).

    Evaluation: `__call__(y, training=False)` returns exactly what `decompress`
    will produce and its information content under the coding distribution, so
    the estimate matches real coding up to the coder's overhead.
    """

    def __init__(self, prior, coding_rank, dither=True, compression=False,
                 expected_grads=False, num_noise_levels=15, tail_mass=2**-8,
                 range_coder_precision=12, laplace_tail_mass=0.0, coder=None,
                 bottleneck_dtype=tf.float32):
        """Initializer.

        Args:
          prior: Density of `Y + U` (e.g. `tfnq.distributions.noisy_density(base)`
            or a soft-round adapted density), batch shape = the innermost
            dimensions of the latents that are not i.i.d. (e.g. channels).
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
            prior=prior,
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

    def _broadcast_shape(self, shape):
        rank = tf.size(shape)
        coding_shape = shape[rank - self.coding_rank:]
        return coding_shape[:self.coding_rank - self.prior_shape.rank]

    @tf.Module.with_name_scope
    def quantize(self, bottleneck):
        """The values the decoder will reconstruct: `round(y - u) + u`."""
        bottleneck = tf.convert_to_tensor(bottleneck, dtype=self.bottleneck_dtype)
        _, offset = self._compute_indexes_and_offset(
            self._broadcast_shape(tf.shape(bottleneck)))
        return tf.round(bottleneck - offset) + offset

    @tf.Module.with_name_scope
    def compress(self, bottleneck):
        """Quantizes and codes `bottleneck`; one string per coding unit."""
        self._check_compression()
        bottleneck = tf.convert_to_tensor(bottleneck, dtype=self.bottleneck_dtype)
        indexes, offset = self._compute_indexes_and_offset(
            self._broadcast_shape(tf.shape(bottleneck)))
        symbols = tf.cast(tf.round(bottleneck - offset), tf.int32)
        indexes = tf.broadcast_to(indexes, tf.shape(symbols))
        return self.coder.encode(symbols, indexes, self.cdf, self.cdf_offset, self.coding_rank)

    @tf.Module.with_name_scope
    def decompress(self, strings, broadcast_shape):
        """Decodes strings from `compress`.

        Args:
          strings: String tensor (the batch shape).
          broadcast_shape: The coding shape without the prior's batch shape, e.g.
            `[height, width]` of the latents.

        Returns:
          The reconstructed `round(y - u) + u`, shape
          `strings.shape + broadcast_shape + prior_shape`.

        Raises:
          tf.errors.InvalidArgumentError: if a string does not decode cleanly.
        """
        self._check_compression()
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        broadcast_shape = tf.convert_to_tensor(broadcast_shape, dtype=tf.int32)
        output_shape = tf.concat(
            [tf.shape(strings), broadcast_shape, self.prior_shape_tensor], 0)
        indexes, offset = self._compute_indexes_and_offset(broadcast_shape)
        indexes = tf.broadcast_to(indexes, output_shape)
        symbols, ok = self.coder.decode(strings, indexes, self.cdf, self.cdf_offset)
        check = tf.debugging.assert_equal(
            ok, True, message="tfnq: entropy decoding failed (corrupted data)")
        with tf.control_dependencies([check]):
            symbols = tf.identity(symbols)
        return tf.cast(symbols, self.bottleneck_dtype) + offset

    def get_config(self):
        """Hyperparameters (the prior itself is owned and serialized by the model)."""
        return dict(
            coding_rank=self.coding_rank,
            dither=self.dither,
            expected_grads=self.expected_grads,
            num_noise_levels=self.num_noise_levels,
            tail_mass=self.tail_mass,
        )
