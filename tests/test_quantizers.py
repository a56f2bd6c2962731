"""Quantizers: rounding, universal quantization and the soft-rounding channel."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from tfnq import distributions, ops, quantizers


def test_rounding_has_one_level_and_no_offset():
    q = quantizers.Rounding()
    rows, offset = q.rows_and_offsets(tf.range(6), 6)
    np.testing.assert_array_equal(rows, np.arange(6))
    assert offset.shape.rank == 0 and float(offset) == 0.0
    np.testing.assert_array_equal(q.level_offsets(2), np.zeros([1, 1, 1]))
    y = tf.constant([-1.5, -0.4, 0.6, 2.5])
    np.testing.assert_array_equal(q.quantize(y, offset), np.round(y.numpy()))


def test_universal_levels_are_tfcs_and_shared():
    q = quantizers.UniversalQuantizer(15)
    np.testing.assert_array_equal(q.level_offsets(0).numpy(), np.arange(1, 16) / 16 - 0.5)
    rows, offset = q.rows_and_offsets(tf.zeros([4, 5], tf.int32), 3)
    again, _ = q.rows_and_offsets(tf.zeros([4, 5], tf.int32), 3)
    np.testing.assert_array_equal(rows, again)  # The decoder draws the same dither.
    levels = rows.numpy() // 3
    assert levels.min() >= 0 and levels.max() < 15 and len(np.unique(levels)) > 3
    np.testing.assert_allclose(offset, (levels + 1) / 16 - 0.5)
    # The same draw as tfc's universal entropy models.
    drawn = tf.random.stateless_uniform([4, 5], seed=(1234, 1234), minval=0, maxval=15,
                                        dtype=tf.int32)
    np.testing.assert_array_equal(levels, drawn)


def test_universal_with_one_level_is_rounding():
    q = quantizers.UniversalQuantizer(1)
    rows, offset = q.rows_and_offsets(tf.range(3), 3)
    np.testing.assert_array_equal(rows, np.arange(3))
    assert float(offset) == 0.0
    with pytest.raises(ValueError, match="num_levels"):
        quantizers.UniversalQuantizer(0)


def test_symbols_round_trip():
    q = quantizers.UniversalQuantizer(15)
    y = tf.random.stateless_normal([3, 7], seed=(1, 2)) * 4
    _, offset = q.rows_and_offsets(tf.zeros([3, 7], tf.int32), 1)
    symbols = q.to_symbols(y, offset)
    assert symbols.dtype == tf.int32
    np.testing.assert_array_equal(q.from_symbols(symbols, offset), q.quantize(y, offset))
    assert np.abs(q.quantize(y, offset) - y).max() <= 0.5


def test_get_quantizer_from_configuration():
    q = quantizers.get_quantizer(quantizers.UniversalQuantizer(7).get_config())
    assert isinstance(q, quantizers.UniversalQuantizer) and q.num_levels == 7
    assert isinstance(quantizers.get_quantizer({"name": "round"}), quantizers.Rounding)
    with pytest.raises(ValueError, match="Unknown quantizer"):
        quantizers.get_quantizer({"name": "lattice"})


def test_soft_round_channel():
    alpha = tf.Variable(4.0)
    y = tf.random.stateless_normal([50], seed=(3, 4)) * 3
    off = quantizers.SoftRoundChannel(alpha, enabled=False)
    assert off.encode(y) is y and off.decode(y) is y
    assert isinstance(off.density(tfc.DeepFactorized()), tfc.UniformNoiseAdapter)

    on = quantizers.SoftRoundChannel(alpha, enabled=True, expected_grads=True)
    np.testing.assert_array_equal(on.encode(y), ops.soft_round(y, 4.0))
    np.testing.assert_array_equal(on.decode(y), ops.soft_round_conditional_mean(y, 4.0))
    assert isinstance(on.density(tfc.DeepFactorized()), distributions.SoftRoundAdaptedDensity)
    alpha.assign(8.0)  # The trainer anneals the model's variable; the channel follows.
    np.testing.assert_array_equal(on.encode(y), ops.soft_round(y, 8.0))
    # Expected gradients (Eq. 20): d r_alpha(y + u) / dy is one.
    with tf.GradientTape() as tape:
        tape.watch(y)
        out = on.reconstruct(y, y + 0.3)
    np.testing.assert_allclose(tape.gradient(out, y), np.ones(50), rtol=1e-6)
