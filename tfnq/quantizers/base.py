"""What a quantizer does, for the entropy models that code its symbols.

A quantizer maps latents to integer symbols and back, given per-element coding
parameters, and supplies the training-time surrogate of its test-time behaviour.
tfnq's scalar quantizers (`Rounding`, `UniversalQuantizer`) reconstruct
`k + offset` from a symbol `k`, with an offset per element that the encoder and the
decoder know alike (0, or the shared dither), and each offset has coding tables of
its own; their surrogate is additive uniform noise (Sec. 3 of Agustsson & Theis,
NeurIPS 2020). A vector quantizer (a lattice) implements the same methods for its
cells.
"""

import tensorflow as tf
import tensorflow_compression as tfc

__all__ = ["ScalarQuantizer"]


class ScalarQuantizer:
    """Base of the scalar quantizers: `k = round(y - o)`, `y_hat = k + o`.

    Subclasses define `num_levels` (distinct offsets; each gets its own coding tables)
    and `level_offset(levels)`, and may draw the level of each element in
    `element_levels` (default: all 0).
    """

    num_levels = 1
    name = None

    def level_offset(self, levels, dtype=tf.float32):
        """The offset of each level (a tensor of levels in `[0, num_levels)`)."""
        raise NotImplementedError

    def element_levels(self, shape):
        """The level of each element of `shape`, or None if all are level 0."""
        del shape
        return None

    def level_offsets(self, rank, dtype=tf.float32):
        """Every level's offset, shaped `[num_levels] + [1] * rank` (for the tables)."""
        return self.level_offset(tf.reshape(tf.range(self.num_levels), [-1] + [1] * rank),
                                 dtype)

    def rows_and_offsets(self, rows, stride, dtype=tf.float32):
        """Table rows and offsets of the elements.

        Args:
          rows: int32 table row of every element at level 0.
          stride: Rows per level (the tables of a level follow those of the one before).
          dtype: dtype of the offsets.

        Returns:
          `(rows + level * stride, offset)`, the offset a scalar 0 if every element is
          at level 0.
        """
        levels = self.element_levels(tf.shape(rows))
        if levels is None:
            return rows, tf.zeros([], dtype)
        return rows + levels * stride, self.level_offset(levels, dtype)

    @staticmethod
    def quantize(values, offset):
        """The reconstruction `round(values - offset) + offset`."""
        return tf.round(values - offset) + offset

    @staticmethod
    def to_symbols(values, offset):
        """int32 symbols `round(values - offset)`."""
        return tf.cast(tf.round(values - offset), tf.int32)

    @staticmethod
    def from_symbols(symbols, offset, dtype=tf.float32):
        """The reconstruction `symbols + offset`."""
        return tf.cast(symbols, dtype) + offset

    @staticmethod
    def perturb_and_apply(fn, values, *args, expected_grads=False):
        """The training surrogate: `fn(values + u, *args), values + u`, `u ~ U(-1/2, 1/2)`
        (with expected gradients, Eq. 17, if asked); tfc's `perturb_and_apply`."""
        return tfc.perturb_and_apply(fn, values, *args, expected_grads=expected_grads)

    def get_config(self):
        return dict(name=self.name)
