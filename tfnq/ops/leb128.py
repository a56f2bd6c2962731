"""Unsigned LEB128 varints as tensor ops (vectorized, both ways).

Seven bits a byte, least significant group first, the top bit set on every byte but
the last. The container (`tfnq.bitstream_v2`: section lengths, field tags) and the
rANS coder's escapes (`tfnq.coders.RansCoder`) write their integers this way.
"""

import tensorflow as tf

__all__ = [
    "MAX_BYTES",
    "leb128_decode",
    "leb128_encode",
]

MAX_BYTES = 5  # 35 bits: uint32 values, and escapes below 2^34.


def leb128_encode(values):
    """Bytes of int64 values in `[0, 2^35)`.

    Returns:
      `(bytes, used)`: int64 `[N, MAX_BYTES]` byte values and the bool mask of the
      bytes each value takes (row-major `boolean_mask` gives the encoding).
    """
    values = tf.reshape(tf.cast(values, tf.int64), [-1, 1])
    shifts = tf.constant([[7 * i for i in range(MAX_BYTES)]], tf.int64)
    rest = tf.bitwise.right_shift(values, shifts)
    # Bytes needed: one, plus one for every further group that is not all zero.
    needed = 1 + tf.reduce_sum(tf.cast(rest[:, 1:] > 0, tf.int32), axis=1, keepdims=True)
    position = tf.range(MAX_BYTES)[None]
    groups = tf.bitwise.bitwise_and(rest, 0x7F)
    return tf.where(position < needed - 1, groups + 0x80, groups), position < needed


def leb128_decode(byte_values):
    """The varints of an int64 byte vector: the k-th is the k-th run of bytes ending
    at a byte below 0x80 (trailing bytes without one make an extra, open run).

    Returns:
      `(values, lengths, run)`: int64 `[n + 1]` value and byte count of each run (runs
      past the last are empty; a run longer than `MAX_BYTES` has a meaningless
      value), and the run of each byte.
    """
    n = tf.size(byte_values, out_type=tf.int64)
    run = tf.cumsum(tf.cast(byte_values < 0x80, tf.int64), exclusive=True)
    position = tf.range(n, dtype=tf.int64)
    start = tf.math.unsorted_segment_min(position, run, n + 1)
    within = position - tf.gather(start, run)
    payload = tf.bitwise.left_shift(tf.bitwise.bitwise_and(byte_values, 0x7F),
                                    7 * tf.minimum(within, MAX_BYTES))
    values = tf.math.unsorted_segment_sum(payload, run, n + 1)
    lengths = tf.math.unsorted_segment_sum(tf.ones_like(run), run, n + 1)
    return values, lengths, run
