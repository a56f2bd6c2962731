"""The interface between entropy models and entropy-coding backends."""

import abc

import tensorflow as tf

__all__ = ["Coder"]


class Coder(tf.Module, metaclass=abc.ABCMeta):
    """Entropy-codes integer symbols with per-symbol probability tables.

    Tables use tensorflow-compression's layout, which the entropy models build once
    and store as variables: `cdf` is a flat int32 vector that concatenates, for each
    table, `[-precision, c_0, ..., c_n]` (a quantized CDF whose last interval is the
    overflow bin), and `cdf_offset[i]` is the integer value of table `i`'s first
    symbol. Symbols outside a table's range go through the overflow bin and are
    coded with an Elias-gamma escape, so any int32 symbol can be coded.

    Entropy models never call a backend directly: a SavedModel exported with a
    coder in core TF ops needs no custom ops, so stock TensorFlow Serving loads it.
    """

    name_tag = None  # Short identifier stored in model metadata.
    table_layout = "tfc-flat"  # The layout of `tfnq.entropy_models.CodingTables` it takes.

    def overhead_bytes(self, num_symbols, information_bytes=0):
        """Bytes a string of `num_symbols` symbols with this information content
        takes beyond it, at most (apart from the tables' quantization)."""
        del num_symbols, information_bytes
        return 4  # A range coder's flush.

    @abc.abstractmethod
    def encode(self, symbols, indexes, cdf, cdf_offset, coding_rank):
        """Encodes integer symbols.

        Args:
          symbols: int32 tensor `batch_shape + coding_shape`.
          indexes: int32 tensor of the same shape: the table of each symbol.
          cdf: The flat CDF tables.
          cdf_offset: int32 vector, the first symbol value of each table.
          coding_rank: Number of innermost dimensions coded into one string.

        Returns:
          A string tensor of shape `batch_shape`: one bitstring per coding unit.
        """

    def decode_index(self, cdf):
        """Tables the decoder derives from `cdf`, built once with them and stored
        beside them (entropy models keep it as a variable; it is no part of a model's
        identity, being a function of the tables), or None if it needs none.

        Args:
          cdf: The flat CDF tables.

        Returns:
          An int32 vector, or None.
        """
        del cdf
        return None

    @abc.abstractmethod
    def decode(self, strings, indexes, cdf, cdf_offset, decode_index=None):
        """Decodes what `encode` produced.

        Args:
          strings: string tensor `batch_shape`.
          indexes: int32 tensor `batch_shape + coding_shape`, as given to `encode`.
          cdf: The flat CDF tables.
          cdf_offset: int32 vector, the first symbol value of each table.
          decode_index: What `decode_index(cdf)` gave, if stored (a coder that needs
            one builds it on every call otherwise).

        Returns:
          `(symbols, ok)`: int32 symbols of the shape of `indexes`, and a boolean
          tensor that is False if a string was not decoded cleanly (damaged data).
        """
