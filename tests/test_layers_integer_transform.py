"""Tests for tfnq.layers.integer_transform: the integer hyper-synthesis is the float one
to within its fixed point, and its arithmetic is exact (the same integers by any
formulation: numpy int64, TensorFlow float64, XLA)."""

import numpy as np
import pytest
import tensorflow as tf

import tfnq
from tfnq import layers
from tfnq.layers import integer_transform

N, M = 8, 12
BITS = integer_transform.ACTIVATION_BITS
LIMIT = integer_transform.ACTIVATION_LIMIT * 2**BITS


@pytest.fixture(scope="module")
def hyper_synthesis():
    tf.random.set_seed(3)
    transform = layers.HyperSynthesisTransform(N, M)
    transform.build([None, None, None, N])
    # Trained-looking biases (initialized to zero), so that they are tested too.
    for layer in transform.layers:
        layer.bias_parameter.assign(tf.random.normal(layer.bias.shape, stddev=0.3))
    return transform


def _symbols(shape, seed=0, scale=4.0):
    return np.round(np.random.default_rng(seed).normal(0, scale, shape)).astype(np.float32)


def _reference(transform, symbols, levels):
    """The transform in numpy int64, one output pixel at a time through the taps."""
    values = (symbols.astype(np.int64) * 2**BITS
              + transform.input_levels.numpy().astype(np.int64)[levels])
    for i, kernel in enumerate(transform.kernels):
        kernel = kernel.numpy().astype(np.int64)
        taps, d = integer_transform.upsampling_taps(_LAYERS[i])
        t, s = taps.shape[0], taps.shape[2]
        b, h, w, _ = values.shape
        out = np.zeros([b, h * s, w * s, kernel.shape[-1]], np.int64)
        flat = kernel.reshape(-1, *kernel.shape[2:])
        for a in range(t):
            for c in range(t):
                for py in range(s):
                    for px in range(s):
                        tap = taps[a, c, py, px]
                        if tap < 0:
                            continue
                        shifted = np.zeros_like(values)
                        ys = slice(max(-(a + d), 0), h - max(a + d, 0))
                        xs = slice(max(-(c + d), 0), w - max(c + d, 0))
                        yt = slice(max(a + d, 0), h + min(a + d, 0))
                        xt = slice(max(c + d, 0), w + min(c + d, 0))
                        shifted[:, ys, xs] = values[:, yt, xt]
                        out[:, py::s, px::s] += shifted @ flat[tap]
        out += transform.biases[i].numpy().astype(np.int64)
        shift = 2 ** int(transform.kernel_exponents[i])
        out = (out + shift // 2) // shift
        if integer_transform._activation_kind(_LAYERS[i].activation) == "leaky_relu":
            out = np.where(out < 0, (out * integer_transform.LEAKY_SLOPE) // 2**16, out)
        values = np.clip(out, -LIMIT, LIMIT)
    return values


_LAYERS = []


@pytest.fixture(scope="module")
def transform(hyper_synthesis):
    _LAYERS[:] = hyper_synthesis.layers
    return layers.IntegerTransform.from_layers(hyper_synthesis.layers, [0.0, 0.25, -0.25])


def test_taps_partition_each_kernel(hyper_synthesis):
    for layer in hyper_synthesis.layers:
        taps, d = integer_transform.upsampling_taps(layer)
        k, s = layer.kernel_support[0], layer.strides_up[0]
        assert taps.shape[2:] == (s, s)
        assert sorted(taps[taps >= 0].tolist()) == list(range(k * k))
        assert d == -1  # A 5x5 up-2 and a 3x3 layer read one pixel either side.


def test_close_to_the_float_transform(hyper_synthesis, transform):
    """Within the fixed point, at the borders too: the same linear maps."""
    symbols = _symbols([2, 3, 5, N])
    expected = hyper_synthesis(symbols).numpy()
    got = transform(symbols, 0).numpy() / 2**BITS
    assert got.shape == expected.shape == (2, 12, 20, 2 * M)
    np.testing.assert_allclose(got, expected, atol=2e-3 * max(1, np.abs(expected).max()))


def test_levels_add_their_reconstruction(hyper_synthesis, transform):
    symbols = _symbols([1, 2, 2, N], seed=1)
    levels = np.random.default_rng(2).integers(0, 3, symbols.shape).astype(np.int32)
    offsets = np.array([0.0, 0.25, -0.25], np.float32)[levels]
    expected = hyper_synthesis(symbols + offsets).numpy()
    got = transform(symbols, levels).numpy() / 2**BITS
    np.testing.assert_allclose(got, expected, atol=2e-3 * max(1, np.abs(expected).max()))


def test_exact_integers_by_any_formulation(transform):
    """numpy int64 (exact by construction), TensorFlow's float64 ops and XLA agree on
    every integer: no step of the transform rounds."""
    symbols = _symbols([1, 3, 4, N], seed=4, scale=8.0)
    levels = np.random.default_rng(5).integers(0, 3, symbols.shape).astype(np.int32)
    plain = transform(symbols, levels).numpy()
    xla = tf.function(transform.__call__, jit_compile=True)(symbols, levels).numpy()
    reference = _reference(transform, symbols, levels)
    assert np.all(plain == np.round(plain))
    np.testing.assert_array_equal(plain.astype(np.int64), reference)
    np.testing.assert_array_equal(xla, plain)


def test_forged_inputs_are_clipped(transform):
    """Symbols beyond any table (a forged file's escapes) stay within exact range."""
    huge = np.full([1, 2, 2, N], 2.0**31, np.float32)
    out = transform(huge, 0).numpy()
    np.testing.assert_array_equal(out, transform(np.full_like(huge, 2.0**10), 0).numpy())
    assert np.all(np.abs(out) <= LIMIT)


def test_variables_are_stored_integers(transform):
    assert all(k.dtype == tf.int16 for k in transform.kernels)
    for v in transform.biases + [transform.input_levels]:
        assert np.all(v.numpy() == np.round(v.numpy()))
    assert transform.num_levels == 3


def test_folds_input_scale_and_output_offset(hyper_synthesis):
    scale = np.linspace(0.5, 2.0, N)
    offset = np.linspace(-3, 3, 2 * M)
    folded = layers.IntegerTransform.from_layers(hyper_synthesis.layers, [0.0],
                                                 input_scale=scale, output_offset=offset)
    symbols = _symbols([1, 2, 3, N], seed=6)
    expected = hyper_synthesis(symbols * scale.astype(np.float32)).numpy() + offset
    got = folded(symbols, 0).numpy() / 2**BITS
    np.testing.assert_allclose(got, expected, atol=2e-3 * max(1, np.abs(expected).max()))


def test_refuses_what_it_cannot_express():
    conv = layers.SignalConv2D(4, (3, 3), strides_down=2, corr=True)
    conv.build([None, None, None, 2])
    with pytest.raises(ValueError, match="down-sampling"):
        layers.IntegerTransform.from_layers([conv], [0.0])
    tanh = layers.SignalConv2D(4, (3, 3), corr=False, activation=tf.nn.tanh,
                               padding="same_zeros")
    tanh.build([None, None, None, 2])
    with pytest.raises(ValueError, match="activation"):
        layers.IntegerTransform.from_layers([tanh], [0.0])
    big = layers.SignalConv2D(4, (3, 3), corr=False, kernel_parameter="variable",
                              padding="same_zeros")
    big.build([None, None, None, 2])
    big.kernel_parameter.assign(tf.fill(big.kernel_parameter.shape, 1e9))
    with pytest.raises(ValueError, match="too large"):
        layers.IntegerTransform.from_layers([big], [0.0])


def test_public_api():
    assert tfnq.layers.IntegerTransform is integer_transform.IntegerTransform
