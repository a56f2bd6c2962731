"""Entropy model for factorized latents coded with universal quantization.

Sec. 3.2 of

> "Universally Quantized Neural Compression"<br />
> E. Agustsson, L. Theis, NeurIPS 2020 (arXiv:2006.09952)

The encoder sends `K = round(y - u)` and the decoder forms `K + u`, which has the
distribution of `y + U` (Eq. 6); `K` is coded with `P(K = k | u) = p_{Y+U}(k + u)`,
so the coding cost is `h[Y + U]` (Eq. 7), the rate term the model was trained on.

The dither `u` is shared through `tfnq.quantizers.universal` (a stateless PRNG with a
fixed seed, quantized to `num_noise_levels` values, one coding table per channel and
level). `dither=False` is the same model with a single level, whose offset is 0:
plain rounding coded with `P(k) = p_{Y+U}(k)` -- the UN+Q baseline -- so the
train-time rate estimate, the test-time estimate and the coded bits come from one
code path for every mode. The model computes what tensorflow-compression's
`UniversalBatchedEntropyModel` computes (the same dither, tables and bits), on tfc's
public ops only.
"""

import tensorflow as tf

from tfnq.entropy_models import tables as tables_lib
from tfnq.entropy_models.base import UniversalEntropyModel

__all__ = ["UniversalBatchedEntropyModel"]


class UniversalBatchedEntropyModel(UniversalEntropyModel):
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
                 range_coder_precision=12, coder=None, bottleneck_dtype=tf.float32,
                 tables=None, quantizer=None):
        """Initializer.

        Args:
          prior: Density of `Y + U` (e.g. `tfnq.distributions.noisy_density(base)`
            or a soft-round adapted density), batch shape = the innermost
            dimensions of the latents that are not i.i.d. (e.g. channels).
          coding_rank: Number of innermost dimensions coded into one string.
          dither: True for universal quantization, False for rounding (UN+Q).
          compression: Build coding tables now (eager mode only), unless `tables`.
          expected_grads: Use expected gradients (Eq. 17) for the rate.
          num_noise_levels: Number of quantized dither values when `dither`.
          tail_mass: Probability mass coded through the overflow escape.
          range_coder_precision: Bits of precision of the coding tables.
          coder: A `tfnq.coders.Coder`; defaults to `RangeCoder()`.
          bottleneck_dtype: dtype of the latents.
          tables: `CodingTables` made before (e.g. stored in an export) to code with
            instead of building them (`compression` must be True): tables computed
            on another machine may differ in the last bits of a few entries, so a
            re-exported model must keep the ones its files were made with.
          quantizer: A `tfnq.quantizers.ScalarQuantizer` (then `dither` and
            `num_noise_levels` are not used).
        """
        if prior.event_shape.rank:
            raise ValueError("prior must be a (batch of) scalar distribution(s)")
        super().__init__(coding_rank, dither=dither, num_noise_levels=num_noise_levels,
                         quantizer=quantizer,
                         compression=compression, expected_grads=expected_grads,
                         tail_mass=tail_mass, range_coder_precision=range_coder_precision,
                         coder=coder, bottleneck_dtype=bottleneck_dtype)
        self._prior = prior
        if self.coding_rank < self.prior_shape.rank:
            raise ValueError("coding_rank can't be smaller than the prior's batch rank")
        if tables is not None:
            self._init_tables(self._checked(
                tables, self._num_noise_levels * int(self.prior_shape.num_elements())))
        elif self.compression:
            self._init_tables(tables_lib.build_tables(
                prior, self._precision, self.tail_mass,
                offset=self._level_offsets(self.prior_shape.rank)))

    @property
    def prior(self):
        return self._prior

    @property
    def prior_shape(self):
        """Batch shape of the prior (the dimensions that are not i.i.d.)."""
        return tf.TensorShape(self._prior.batch_shape)

    @property
    def prior_shape_tensor(self):
        return tf.constant(self.prior_shape.as_list(), dtype=tf.int32)

    def _broadcast_shape(self, shape):
        rank = tf.size(shape)
        coding_shape = shape[rank - self.coding_rank:]
        return coding_shape[:self.coding_rank - self.prior_shape.rank]

    def _table_indexes_and_offset(self, broadcast_shape):
        """The table of every element (level * channels + channel) and its dither."""
        size = int(self.prior_shape.num_elements())
        shape = tf.concat([broadcast_shape, [size]], 0)
        full_shape = tf.concat([broadcast_shape, self.prior_shape_tensor], 0)
        rows, offset = self._dithered(tf.broadcast_to(tf.range(size, dtype=tf.int32), shape),
                                      size)
        return tf.reshape(rows, full_shape), (
            offset if offset.shape.rank == 0 else tf.reshape(offset, full_shape))

    def _log_prob(self, values):
        return self._prior.log_prob(tf.cast(values, self._prior.dtype))

    @tf.Module.with_name_scope
    def __call__(self, bottleneck, training=True):
        """Perturbs (training) or quantizes `bottleneck` and counts its bits.

        Returns:
          `(bottleneck_perturbed, bits)`, bits summed over each coding unit.
        """
        bottleneck = tf.convert_to_tensor(bottleneck, dtype=self.bottleneck_dtype)
        if training:
            log_probs, perturbed = self.quantizer.perturb_and_apply(
                self._log_prob, bottleneck, expected_grads=self.expected_grads)
        else:
            _, offset = self._table_indexes_and_offset(
                self._broadcast_shape(tf.shape(bottleneck)))
            perturbed = self.quantizer.quantize(bottleneck, offset)
            log_probs = self._log_prob(perturbed)
        return perturbed, self._bits(log_probs)

    @tf.Module.with_name_scope
    def quantize(self, bottleneck):
        """The values the decoder will reconstruct: `round(y - u) + u`."""
        bottleneck = tf.convert_to_tensor(bottleneck, dtype=self.bottleneck_dtype)
        _, offset = self._table_indexes_and_offset(self._broadcast_shape(tf.shape(bottleneck)))
        return self.quantizer.quantize(bottleneck, offset)

    @tf.Module.with_name_scope
    def to_symbols(self, bottleneck):
        """The quantizer's symbols of `bottleneck` and the table row of each.

        Returns:
          `(symbols, rows)`, int32 tensors of the shape of `bottleneck`.
        """
        bottleneck = tf.convert_to_tensor(bottleneck, dtype=self.bottleneck_dtype)
        indexes, offset = self._table_indexes_and_offset(
            self._broadcast_shape(tf.shape(bottleneck)))
        symbols = self.quantizer.to_symbols(bottleneck, offset)
        return symbols, tf.broadcast_to(indexes, tf.shape(symbols))

    @tf.Module.with_name_scope
    def table_rows(self, shape):
        """The table row of every element of latents of `shape` (batch + coding shape)."""
        shape = tf.convert_to_tensor(shape, dtype=tf.int32)
        indexes, _ = self._table_indexes_and_offset(self._broadcast_shape(shape))
        return tf.broadcast_to(indexes, shape)

    @tf.Module.with_name_scope
    def from_symbols(self, symbols):
        """The reconstructed `round(y - u) + u` of decoded symbols."""
        symbols = tf.convert_to_tensor(symbols, dtype=tf.int32)
        _, offset = self._table_indexes_and_offset(self._broadcast_shape(tf.shape(symbols)))
        return self.quantizer.from_symbols(symbols, offset, self.bottleneck_dtype)

    @tf.Module.with_name_scope
    def compress(self, bottleneck):
        """Quantizes and codes `bottleneck`; one string per coding unit."""
        self._check_compression()
        return self.encode_symbols(*self.to_symbols(bottleneck))

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
        return self.from_symbols(self.decode_symbols(strings, self.table_rows(output_shape)))

    def get_config(self):
        """Hyperparameters (the prior itself is owned and serialized by the model)."""
        return dict(
            coding_rank=self.coding_rank,
            dither=self.dither,
            expected_grads=self.expected_grads,
            num_noise_levels=self.num_noise_levels,
            tail_mass=self.tail_mass,
        )
