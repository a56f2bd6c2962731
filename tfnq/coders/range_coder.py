"""tensorflow-compression's range coder behind tfnq's `Coder` interface."""

import tensorflow as tf
import tensorflow_compression as tfc

from tfnq.coders.base import Coder

__all__ = ["RangeCoder"]


class RangeCoder(Coder):
    """Range coding with tfc's `entropy_encode_index` / `entropy_decode_index` ops.

    These are custom C++ ops with CPU kernels: SavedModels that use this coder need
    `import tensorflow_compression` in the process that loads them.

    Two limits of tfc's ops are guarded here (found by `tests/test_coders.py`): a
    symbol more than 2^30 from its table's first value never finishes encoding (its
    escape code overflows), so such a symbol is refused with an error; and a batch of
    zero strings never finishes either, so it is answered without calling the ops.
    """

    name_tag = "tfc-range"
    max_offset = (1 << 30) - 1  # Largest |symbol - cdf_offset| the escape codes.

    def encode(self, symbols, indexes, cdf, cdf_offset, coding_rank):
        symbols = tf.convert_to_tensor(symbols, tf.int32)
        indexes = tf.convert_to_tensor(indexes, tf.int32)
        batch_shape = tf.shape(symbols)[:symbols.shape.rank - coding_rank]
        # In int64: the difference itself may not fit in int32.
        offsets = tf.cast(symbols, tf.int64) - tf.cast(tf.gather(cdf_offset, indexes), tf.int64)
        check = tf.debugging.assert_less_equal(
            tf.abs(offsets), tf.constant(self.max_offset, tf.int64),
            message="tfnq: a latent is too far from its table (more than 2^30) to code")
        with tf.control_dependencies([check]):
            offsets = tf.cast(offsets, tf.int32)

        def encode():
            handle = tfc.create_range_encoder(batch_shape, cdf)
            handle = tfc.entropy_encode_index(handle, indexes, offsets)
            return tfc.entropy_encode_finalize(handle)

        return tf.cond(tf.reduce_prod(batch_shape) > 0, encode,
                       lambda: tf.fill(batch_shape, ""))

    def decode(self, strings, indexes, cdf, cdf_offset, decode_index=None):
        del decode_index  # Its decoder searches the CDF itself.
        strings = tf.convert_to_tensor(strings, tf.string)
        indexes = tf.convert_to_tensor(indexes, tf.int32)
        decode_shape = tf.shape(indexes)[strings.shape.rank:]

        def decode():
            handle = tfc.create_range_decoder(strings, cdf)
            handle, symbols = tfc.entropy_decode_index(handle, indexes, decode_shape, tf.int32)
            return symbols + tf.gather(cdf_offset, indexes), tfc.entropy_decode_finalize(handle)

        def nothing():
            return tf.zeros_like(indexes), tf.ones(tf.shape(strings), tf.bool)

        return tf.cond(tf.size(strings) > 0, decode, nothing)
