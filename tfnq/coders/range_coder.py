"""tensorflow-compression's range coder behind tfnq's `Coder` interface."""

import tensorflow as tf
import tensorflow_compression as tfc

from tfnq.coders.base import Coder

__all__ = ["RangeCoder"]


class RangeCoder(Coder):
    """Range coding with tfc's `entropy_encode_index` / `entropy_decode_index` ops.

    These are custom C++ ops with CPU kernels: SavedModels that use this coder need
    `import tensorflow_compression` in the process that loads them.
    """

    name_tag = "tfc-range"

    def encode(self, symbols, indexes, cdf, cdf_offset, coding_rank):
        symbols = tf.convert_to_tensor(symbols, tf.int32)
        indexes = tf.convert_to_tensor(indexes, tf.int32)
        batch_shape = tf.shape(symbols)[:symbols.shape.rank - coding_rank]
        symbols -= tf.gather(cdf_offset, indexes)
        handle = tfc.create_range_encoder(batch_shape, cdf)
        handle = tfc.entropy_encode_index(handle, indexes, symbols)
        return tfc.entropy_encode_finalize(handle)

    def decode(self, strings, indexes, cdf, cdf_offset):
        strings = tf.convert_to_tensor(strings, tf.string)
        indexes = tf.convert_to_tensor(indexes, tf.int32)
        decode_shape = tf.shape(indexes)[strings.shape.rank:]
        handle = tfc.create_range_decoder(strings, cdf)
        handle, symbols = tfc.entropy_decode_index(handle, indexes, decode_shape, tf.int32)
        ok = tfc.entropy_decode_finalize(handle)
        return symbols + tf.gather(cdf_offset, indexes), ok

