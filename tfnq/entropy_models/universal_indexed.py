"""Entropy model for conditionally coded latents with universal quantization.

Sec. 3.2 and Eq. 23 of

> "Universally Quantized Neural Compression"<br />
> E. Agustsson, L. Theis, NeurIPS 2020 (arXiv:2006.09952)

Each latent element has its own density, chosen by an index (e.g. the quantized
log-scale a hyper-synthesis predicts). The encoder sends `K = round(y - u)`, the
decoder forms `K + u`, and `K` is coded with `P(K = k | u, i) = p_i(k + u)` where
`p_i` is the density of `Y + U` for index `i`.

The dither is shared as in `UniversalBatchedEntropyModel`
(`tfnq.quantizers.universal`: one coding table per index and noise level), and the
model computes what tensorflow-compression's `UniversalIndexedEntropyModel` computes,
on tfc's public ops only, with these differences:

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

import math

import tensorflow as tf
import tensorflow_compression as tfc

from tfnq.entropy_models import tables as tables_lib
from tfnq.entropy_models.base import UniversalEntropyModel

__all__ = ["UniversalIndexedEntropyModel"]


class UniversalIndexedEntropyModel(UniversalEntropyModel):
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
                 tail_mass=2**-8, range_coder_precision=12, coder=None,
                 bottleneck_dtype=tf.float32, prior_dtype=tf.float32, tables=None,
                 quantizer=None):
        """Initializer.

        Args:
          prior_fn: Callable returning the density of `Y + U` from keyword
            parameters (e.g. `tfc.NoisyNormal`, or a soft-round adapted density).
          index_ranges: Number of values of each index dimension (the trailing
            dimension of `indexes`).
          parameter_fns: Dict of parameter name -> function of the (float) indexes.
          coding_rank: Number of innermost dimensions coded into one string.
          dither: True for universal quantization, False for rounding (UN+Q).
          compression: Build coding tables now (eager mode only), unless `tables`.
          expected_grads: Use expected gradients (Eq. 17) for the rate.
          num_noise_levels: Number of quantized dither values when `dither`.
          tail_mass: Probability mass coded through the overflow escape.
          range_coder_precision: Bits of precision of the coding tables.
          coder: A `tfnq.coders.Coder`; defaults to `RangeCoder()`.
          bottleneck_dtype: dtype of the latents.
          prior_dtype: dtype of the densities' parameters and probabilities.
          tables: `CodingTables` made before (e.g. stored in an export) to code with
            instead of building them (`compression` must be True): tables computed
            on another machine may differ in the last bits of a few entries, so a
            re-exported model must keep the ones its files were made with.
          quantizer: A `tfnq.quantizers.ScalarQuantizer` (then `dither` and
            `num_noise_levels` are not used).
        """
        if coding_rank <= 0:
            raise ValueError("coding_rank must be larger than 0")
        if not callable(prior_fn):
            raise TypeError("prior_fn must be a class or factory function")
        super().__init__(coding_rank, dither=dither, num_noise_levels=num_noise_levels,
                         quantizer=quantizer,
                         compression=compression, expected_grads=expected_grads,
                         tail_mass=tail_mass, range_coder_precision=range_coder_precision,
                         coder=coder, bottleneck_dtype=bottleneck_dtype)
        self._ranges = tuple(int(r) for r in index_ranges)
        if not self._ranges:
            raise ValueError("index_ranges must have at least one element")
        self._prior_fn = prior_fn
        self._parameter_fns = dict(parameter_fns)
        self._prior_dtype = tf.as_dtype(prior_dtype)
        if tables is not None:
            self._init_tables(self._checked(
                tables, self._num_noise_levels * math.prod(self._ranges)))
        elif self.compression:
            grid = tf.meshgrid(*[tf.range(r, dtype=tf.int32) for r in self._ranges],
                               indexing="ij")
            prior = self._make_prior(tf.stack(grid, axis=-1))
            self._init_tables(tables_lib.build_tables(
                prior, self._precision, self.tail_mass,
                offset=self._level_offsets(len(self._ranges))))

    @property
    def index_ranges_without_offsets(self):
        """Number of values of each index dimension."""
        return self._ranges

    @property
    def prior_dtype(self):
        return self._prior_dtype

    def _make_prior(self, indexes):
        indexes = tf.cast(indexes, self._prior_dtype)
        return self._prior_fn(**{k: f(indexes) for k, f in self._parameter_fns.items()})

    def _clip_indexes(self, indexes):
        """Indexes within their ranges; gradients pass where they point inwards
        (tfc's bounds, as tfc's model trains)."""
        bounds = tf.constant([r - 1 for r in self._ranges], indexes.dtype)
        return tfc.upper_bound(tfc.lower_bound(indexes, 0), bounds)

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
        ranges = self._ranges
        indexes = tf.round(tf.convert_to_tensor(indexes, self._prior_dtype))
        indexes = tf.cast(self._clip_indexes(indexes), tf.int32)
        rows, stride = indexes[..., -1], ranges[-1]
        for k in range(len(ranges) - 2, -1, -1):
            rows += indexes[..., k] * stride
            stride *= ranges[k]
        return self._dithered(rows, stride)

    @staticmethod
    def _center(bottleneck, loc):
        return bottleneck if loc is None else bottleneck - loc

    @staticmethod
    def _uncenter(values, loc):
        return values if loc is None else values + loc

    @tf.Module.with_name_scope
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
        bottleneck = self._center(
            tf.convert_to_tensor(bottleneck, dtype=self.bottleneck_dtype), loc)
        if training:
            def log_prob_fn(values, indexes):
                # The prior is made inside, so that expected gradients (a custom
                # gradient) reach the indexes.
                prior = self._make_prior(indexes)
                return prior.log_prob(tf.cast(values, prior.dtype))

            log_probs, values = self.quantizer.perturb_and_apply(
                log_prob_fn, bottleneck, self._clip_indexes(indexes),
                expected_grads=self.expected_grads)
        else:
            _, offset = self._coding_indexes(indexes)
            values = self.quantizer.quantize(bottleneck, offset)
            prior = self._make_prior(self._clip_indexes(tf.round(indexes)))
            log_probs = prior.log_prob(tf.cast(values, prior.dtype))
        return self._uncenter(values, loc), self._bits(log_probs)

    @tf.Module.with_name_scope
    def quantize(self, bottleneck, indexes, loc=None):
        """The values the decoder will reconstruct: `round(y - loc - u) + u + loc`."""
        bottleneck = self._center(
            tf.convert_to_tensor(bottleneck, dtype=self.bottleneck_dtype), loc)
        _, offset = self._coding_indexes(indexes)
        return self._uncenter(self.quantizer.quantize(bottleneck, offset), loc)

    @tf.Module.with_name_scope
    def to_symbols(self, bottleneck, indexes, loc=None):
        """The quantizer's symbols of `bottleneck - loc` and the table row of each.

        Returns:
          `(symbols, rows)`, int32 tensors of the shape of `bottleneck`.
        """
        bottleneck = self._center(
            tf.convert_to_tensor(bottleneck, dtype=self.bottleneck_dtype), loc)
        rows, offset = self._coding_indexes(indexes)
        return self.quantizer.to_symbols(bottleneck, offset), rows

    @tf.Module.with_name_scope
    def table_rows(self, indexes):
        """The table row of every element coded with float `indexes`."""
        return self._coding_indexes(indexes)[0]

    @tf.Module.with_name_scope
    def from_symbols(self, symbols, indexes, loc=None):
        """The reconstructed `round(y - loc - u) + u + loc` of decoded symbols."""
        _, offset = self._coding_indexes(indexes)
        values = self.quantizer.from_symbols(tf.convert_to_tensor(symbols, tf.int32), offset,
                                             self.bottleneck_dtype)
        return self._uncenter(values, loc)

    @tf.Module.with_name_scope
    def compress(self, bottleneck, indexes, loc=None):
        """Quantizes and codes `bottleneck - loc`; one string per coding unit."""
        self._check_compression()
        return self.encode_symbols(*self.to_symbols(bottleneck, indexes, loc))

    @tf.Module.with_name_scope
    def decompress(self, strings, indexes, loc=None):
        """Decodes strings from `compress` given the same `indexes` (and `loc`).

        Raises:
          tf.errors.InvalidArgumentError: if a string does not decode cleanly.
        """
        self._check_compression()
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        symbols = self.decode_symbols(strings, self.table_rows(indexes))
        return self.from_symbols(symbols, indexes, loc)

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
