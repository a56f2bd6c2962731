"""Tests for tfnq.layers.subpixel: the sub-pixel form of a trained up-sampling stack is
the stack's own map (float32, any size, borders included), its bfloat16 form stays
close to it, and the integer transform built on the same kernels is unchanged."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from tfnq import layers
from tfnq.layers import subpixel

N, M = 8, 12


def _trained_looking(transform):
    """Random biases and GDN parameters (they are constants at initialization)."""
    for i, layer in enumerate(transform.layers):
        layer.bias_parameter.assign(tf.random.stateless_normal(
            layer.bias.shape, [i, 1], stddev=0.3))
        if isinstance(layer.activation, tfc.GDN):
            gdn = layer.activation
            gdn.gamma_parameter.variable.assign(tf.sqrt(tf.abs(tf.random.stateless_normal(
                gdn.gamma.shape, [i, 2], stddev=0.1)) + 0.01))
    return transform


@pytest.fixture(scope="module")
def synthesis():
    tf.random.set_seed(5)
    transform = layers.SynthesisTransform(N, M)
    transform.build([None, None, None, M])
    return _trained_looking(transform)


@pytest.mark.parametrize("height, width", [(1, 1), (2, 3), (5, 4), (7, 9)])
def test_float32_is_the_layers_map(synthesis, height, width):
    x = tf.random.stateless_normal([2, height, width, M], [height, width])
    expected = synthesis(x)
    got = layers.SubpixelTransform(synthesis.layers)(x)
    assert got.dtype == tf.float32
    assert got.shape == expected.shape == (2, 16 * height, 16 * width, 3)
    scale = float(tf.reduce_max(tf.abs(expected)))
    np.testing.assert_allclose(got, expected, atol=1e-5 * scale, rtol=0)


def test_hyper_synthesis_with_stride_one_layer():
    """Layers of stride 1 (a 3x3 kernel) and leaky ReLUs, too."""
    transform = layers.HyperSynthesisTransform(N, M)
    transform.build([None, None, None, N])
    _trained_looking(transform)
    x = tf.random.stateless_normal([1, 3, 5, N], [0, 3])
    np.testing.assert_allclose(layers.SubpixelTransform(transform.layers)(x), transform(x),
                               atol=1e-5, rtol=1e-5)


def test_bfloat16_is_close_and_its_own(synthesis):
    x = tf.random.stateless_normal([1, 6, 5, M], [1, 1])
    form = layers.SubpixelTransform(synthesis.layers)
    full, low = form(x), form(x, bfloat16=True)
    assert low.dtype == tf.float32
    scale = float(tf.reduce_max(tf.abs(full)))
    error = float(tf.reduce_max(tf.abs(low - full)))
    # Three roundings to 8 significant bits on the way (2^-9 each), with gains.
    assert 0 < error < 0.05 * scale
    # The flag as a tensor picks the same forms at run time.
    pick = tf.function(lambda v, flag: form(v, flag))
    np.testing.assert_array_equal(pick(x, tf.constant(True)), low)
    np.testing.assert_array_equal(pick(x, tf.constant(False)), full)


def test_last_layer_stays_float32(synthesis):
    """A float32 last layer: outputs are not on bfloat16's grid."""
    x = tf.random.stateless_normal([1, 4, 4, M], [2, 2])
    low = layers.SubpixelTransform(synthesis.layers)(x, bfloat16=True).numpy()
    on_grid = tf.cast(tf.cast(low, tf.bfloat16), tf.float32).numpy() == low
    assert on_grid.mean() < 0.5
    everything = layers.SubpixelTransform(synthesis.layers, float32_layers=())
    values = everything(x, bfloat16=True)
    assert not np.array_equal(values, low)


def test_subpixel_kernel_places_every_tap_once(synthesis):
    layer = synthesis.layers[1]
    taps, _ = subpixel.upsampling_taps(layer)
    kernel = tf.reshape(tf.range(1, 5 * 5 + 1, dtype=tf.float32), [5, 5, 1, 1])
    phases = subpixel.subpixel_kernel(kernel, taps).numpy()
    t, s = taps.shape[0], taps.shape[2]
    assert phases.shape == (t, t, 1, s * s)
    values = sorted(v for v in phases.ravel() if v)
    assert values == list(range(1, 26))


def test_refuses_down_sampling_layers():
    analysis = layers.AnalysisTransform(N, M)
    analysis.build([None, None, None, 3])
    with pytest.raises(ValueError, match="without down-sampling"):
        layers.SubpixelTransform(analysis.layers)
