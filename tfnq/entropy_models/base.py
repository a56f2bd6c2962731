"""What every tfnq entropy model shares: coding tables held as variables, a coder,
bits from log-probabilities, and a checked decode.

An entropy model turns latents into bits and back. For training and rate estimates it
evaluates a density (`__call__`); for real coding it holds `CodingTables`, built once
from that density (`compression=True`, eager) and stored as variables so that a
SavedModel carries them, and hands symbols with a table index each to a
`tfnq.coders.Coder`. The model never calls a coding backend itself.
"""

import tensorflow as tf

from tfnq.coders import RangeCoder
from tfnq.entropy_models import tables as tables_lib
from tfnq.quantizers import Rounding, UniversalQuantizer

__all__ = ["EntropyModel", "UniversalEntropyModel"]


class EntropyModel(tf.Module):
    """Base of tfnq's entropy models (tables, coder, bits)."""

    def __init__(self, coding_rank, compression=False, expected_grads=False,
                 tail_mass=2**-8, range_coder_precision=12, coder=None,
                 bottleneck_dtype=tf.float32):
        """Initializer.

        Args:
          coding_rank: Number of innermost dimensions coded into one string.
          compression: Whether the model codes (it then builds its coding tables,
            or takes the stored ones a subclass is given as `tables`).
          expected_grads: Use expected gradients (Eq. 17 of Agustsson & Theis) for
            the rate.
          tail_mass: Probability mass coded through the overflow escape.
          range_coder_precision: Bits of precision of the coding tables.
          coder: A `tfnq.coders.Coder`; defaults to `RangeCoder()`.
          bottleneck_dtype: dtype of the latents.
        """
        super().__init__()
        self._coding_rank = int(coding_rank)
        self._compression = bool(compression)
        self._expected_grads = bool(expected_grads)
        self._tail_mass = float(tail_mass)
        self._precision = int(range_coder_precision)
        self._bottleneck_dtype = tf.as_dtype(bottleneck_dtype)
        self.coder = coder if coder is not None else RangeCoder()
        if self._coding_rank < 0:
            raise ValueError("coding_rank must be at least 0")
        if not 0 < self._tail_mass < 1:
            raise ValueError("tail_mass must be between 0 and 1")
        if self.coder.table_layout != tables_lib.LAYOUT:
            raise ValueError(f"{type(self.coder).__name__} takes tables in the layout "
                             f"{self.coder.table_layout!r}, not {tables_lib.LAYOUT!r}")

    @property
    def coding_rank(self):
        return self._coding_rank

    @property
    def compression(self):
        return self._compression

    @property
    def expected_grads(self):
        return self._expected_grads

    @property
    def tail_mass(self):
        return self._tail_mass

    @property
    def bottleneck_dtype(self):
        return self._bottleneck_dtype

    def _init_tables(self, tables):
        """Stores `CodingTables` as (untrainable, SavedModel-tracked) variables, and
        the coder's decode index of them (`Coder.decode_index`) if it takes one."""
        def variable(value, name):
            return tf.Variable(value, trainable=False, name=name, validate_shape=False,
                               shape=[None])

        with self.name_scope:
            self._cdf = variable(tables.cdf, "cdf")
            self._cdf_offset = variable(tables.cdf_offset, "cdf_offset")
            index = self.coder.decode_index(tables.cdf)
            self._decode_index = None if index is None else variable(index, "decode_index")

    @property
    def table_variables(self):
        """The variables that hold the tables (a model's identity: `tfnq.fingerprint`);
        the decode index, derived from them, is not one."""
        self._check_compression()
        return [self._cdf, self._cdf_offset]

    def _checked(self, tables, num_tables):
        """Stored tables, checked against what this model codes with."""
        if not self._compression:
            raise ValueError("tables are for coding: pass compression=True")
        if tables.precision != self._precision:
            raise ValueError(f"tables of precision {tables.precision}, the model codes "
                             f"with {self._precision}")
        if tables.num_tables != num_tables:
            raise ValueError(f"{tables.num_tables} tables, the model codes with {num_tables}")
        return tables

    def _check_compression(self):
        if not self._compression:
            raise RuntimeError("For entropy coding, the entropy model must be created "
                               "with compression=True.")

    @property
    def cdf(self):
        self._check_compression()
        return tf.convert_to_tensor(self._cdf)

    @property
    def cdf_offset(self):
        self._check_compression()
        return tf.convert_to_tensor(self._cdf_offset)

    @property
    def tables(self):
        """The coding tables as a `CodingTables` value."""
        return tables_lib.CodingTables(self.cdf, self.cdf_offset, self._precision)

    def _bits(self, log_probs):
        """Information content of each coding unit, from natural-log probabilities."""
        axes = tuple(range(-self.coding_rank, 0))
        return tf.reduce_sum(log_probs, axis=axes) / (
            -tf.math.log(tf.constant(2.0, dtype=log_probs.dtype)))

    def encode_symbols(self, symbols, rows):
        """Codes symbols with the table of each (`rows`) into one string per coding unit."""
        return self.coder.encode(symbols, rows, self.cdf, self.cdf_offset, self.coding_rank)

    def decode_symbols(self, strings, rows):
        """Decoded symbols; an error (not garbage) for damaged data."""
        # (A coder that takes no index is called as before the index existed.)
        index = {} if self._decode_index is None else dict(decode_index=self._decode_index)
        symbols, ok = self.coder.decode(strings, rows, self.cdf, self.cdf_offset, **index)
        check = tf.debugging.assert_equal(
            ok, True, message="tfnq: entropy decoding failed (corrupted data)")
        with tf.control_dependencies([check]):
            return tf.identity(symbols)


class UniversalEntropyModel(EntropyModel):
    """Base of the entropy models that code the symbols of a scalar quantizer
    (`tfnq.quantizers`): universal quantization (Sec. 3.2 of Agustsson & Theis,
    NeurIPS 2020) or rounding, one set of tables per quantizer level."""

    def __init__(self, coding_rank, dither=True, num_noise_levels=15, quantizer=None,
                 **kwargs):
        """Initializer.

        Args:
          coding_rank: Number of innermost dimensions coded into one string.
          dither: Without `quantizer`: `UniversalQuantizer(num_noise_levels)` (True)
            or `Rounding()` (False).
          num_noise_levels: Levels of the dither, without `quantizer`.
          quantizer: A `tfnq.quantizers.ScalarQuantizer`.
          **kwargs: `EntropyModel` arguments.
        """
        super().__init__(coding_rank, **kwargs)
        if quantizer is None:
            quantizer = UniversalQuantizer(num_noise_levels) if dither else Rounding()
        self.quantizer = quantizer

    @property
    def dither(self):
        """Whether coding uses universal quantization (True) or rounding (False)."""
        return isinstance(self.quantizer, UniversalQuantizer)

    @property
    def num_noise_levels(self):
        """Number of distinct quantizer offsets (1 for rounding)."""
        return self.quantizer.num_levels

    @property
    def _num_noise_levels(self):
        return self.quantizer.num_levels

    def _level_offsets(self, rank):
        """Every level's offset, for tables: one table per level and density."""
        return self.quantizer.level_offsets(rank, self.bottleneck_dtype)

    def _dithered(self, rows, stride):
        """`(rows, offset)` of the elements with their level's tables."""
        return self.quantizer.rows_and_offsets(rows, stride, self.bottleneck_dtype)
