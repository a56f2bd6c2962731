"""Tests for tfnq.layers: block transforms and soft-rounding layers.

Block transforms: Sec. 5.1 of Agustsson & Theis (NeurIPS 2020) (8x8 blocks, 192
channels, random orthogonal initialization) and App. F (JPEG/JFIF initialization:
YCbCr followed by the 8x8 DCT).
"""

import numpy as np
import pytest
import tensorflow as tf

import tfnq
from tfnq.layers import block_basis
from tfnq.ops import soft_rounding

INITS = ["orthogonal", "jpeg"]
IMAGE_SHAPE = [2, 16, 24, 3]
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-T T.871 RGB -> Y weights.


def _images(seed=0):
    return tf.random.stateless_uniform(IMAGE_SHAPE, seed=(seed, 1)) * 255.0


# ------------------------------------------------------------------- block_basis


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_orthogonal_basis_is_orthogonal(seed):
    a = block_basis("orthogonal", seed=seed)
    assert a.shape == (192, 192) and a.dtype == np.float64
    np.testing.assert_allclose(a @ a.T, np.eye(192), atol=1e-12)
    np.testing.assert_allclose(a.T @ a, np.eye(192), atol=1e-12)


def test_orthogonal_basis_depends_on_the_seed_only():
    np.testing.assert_array_equal(block_basis("orthogonal", seed=3),
                                  block_basis("orthogonal", seed=3))
    assert not np.allclose(block_basis("orthogonal", seed=3), block_basis("orthogonal", seed=4))


def test_orthogonal_basis_other_sizes():
    a = block_basis("orthogonal", block_size=4, channels=1, seed=2)
    assert a.shape == (16, 16)
    np.testing.assert_allclose(a @ a.T, np.eye(16), atol=1e-12)


def test_jpeg_basis_first_row_is_the_luma_dc():
    a = block_basis("jpeg")
    assert a.shape == (192, 192)
    # Pixels are ordered (row, column, channel); the DC of the orthonormal 8x8 DCT is
    # 1/8 for every pixel, times the luma weight of the pixel's colour channel.
    dc = a[0].reshape(8, 8, 3)
    np.testing.assert_allclose(dc, np.broadcast_to(LUMA / 8, (8, 8, 3)), rtol=1e-12)
    # Applied to a flat grey block of value v, it gives 8 v (sum of weights is 1).
    np.testing.assert_allclose(a[0] @ np.full(192, 100.0), 800.0, rtol=1e-12)


def test_jpeg_basis_structure():
    a = block_basis("jpeg")
    # Coefficients are ordered channel-major: Y, then Cb, then Cr, each 64 DCT coefficients.
    for channel, row in ((1, np.array([-0.168736, -0.331264, 0.5])),
                         (2, np.array([0.5, -0.418688, -0.081312]))):
        np.testing.assert_allclose(a[64 * channel].reshape(8, 8, 3),
                                   np.broadcast_to(row / 8, (8, 8, 3)), rtol=1e-12)
    # Chroma DCs vanish on grey blocks.
    grey = np.full(192, 50.0)
    np.testing.assert_allclose(a[[64, 128]] @ grey, 0.0, atol=1e-9)
    # Within a colour channel the DCT is orthonormal: rows of one colour component are
    # orthogonal, with squared norms the squared norm of the colour transform row.
    y_rows = a[:64]
    np.testing.assert_allclose(y_rows @ y_rows.T, np.eye(64) * (LUMA @ LUMA), atol=1e-12)
    # And the whole basis is invertible (synthesis uses its inverse).
    assert np.linalg.cond(a) < 10


def test_unknown_basis_raises():
    with pytest.raises(ValueError, match="Unknown"):
        block_basis("wavelet")
    with pytest.raises(ValueError, match="3 channels"):
        block_basis("jpeg", channels=1)


# -------------------------------------------------------------- block transforms


@pytest.mark.parametrize("init", INITS)
def test_analysis_and_synthesis_are_inverses(init):
    analysis = tfnq.BlockAnalysis(init=init, seed=5)
    synthesis = tfnq.BlockSynthesis(init=init, seed=5)
    x = _images()
    coefficients = analysis(x)
    assert coefficients.shape == [2, 2, 3, 192]
    reconstruction = synthesis(coefficients)
    assert reconstruction.shape == IMAGE_SHAPE
    # float32 on values up to 255.
    np.testing.assert_allclose(reconstruction.numpy(), x.numpy(), rtol=0, atol=2e-3)
    # And the other way round: analysis inverts synthesis.
    c = tf.random.stateless_normal([2, 2, 3, 192], seed=(3, 4)) * 10
    np.testing.assert_allclose(analysis(synthesis(c)).numpy(), c.numpy(), rtol=0, atol=1e-4)


@pytest.mark.parametrize("init", INITS)
def test_analysis_is_the_block_basis_over_the_step(init):
    step = 4.0
    analysis = tfnq.BlockAnalysis(init=init, seed=2, step=step)
    x = _images(seed=1)
    coefficients = analysis(x).numpy()
    a = block_basis(init, seed=2)
    # Block (i, j) of image b, pixels in (row, column, channel) order.
    blocks = x.numpy().reshape(2, 2, 8, 3, 8, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 2, 3, 192)
    expected = blocks @ a.T / step
    np.testing.assert_allclose(coefficients, expected, rtol=0, atol=1e-3)


def test_different_seeds_are_not_inverses():
    analysis = tfnq.BlockAnalysis(seed=1)
    synthesis = tfnq.BlockSynthesis(seed=2)
    x = _images()
    assert np.abs(synthesis(analysis(x)).numpy() - x.numpy()).max() > 1.0


@pytest.mark.parametrize("init", INITS)
def test_block_transforms_accept_unknown_spatial_shape(init):
    analysis = tfnq.BlockAnalysis(init=init)
    synthesis = tfnq.BlockSynthesis(init=init)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def round_trip(x):
        return synthesis(analysis(x))

    x = _images(seed=2)
    np.testing.assert_allclose(round_trip(x).numpy(), x.numpy(), rtol=0, atol=2e-3)
    x = x[:1, :8, :16]
    np.testing.assert_allclose(round_trip(x).numpy(), x.numpy(), rtol=0, atol=2e-3)


# --------------------------------------------------------------------- configs


def _layer_cases():
    x_soft = tf.constant(np.linspace(-3, 3, 121, dtype=np.float32).reshape(11, 11))
    return [
        (tfnq.SoftRound, dict(alpha=3.0), x_soft),
        (tfnq.SoftRoundInverse, dict(alpha=3.0), x_soft),
        (tfnq.SoftRoundConditionalMean, dict(alpha=3.0), x_soft),
        (tfnq.BlockAnalysis, dict(init="orthogonal", seed=4, step=2.0), _images()),
        (tfnq.BlockAnalysis, dict(init="jpeg", step=8.0), _images()),
        (tfnq.BlockSynthesis, dict(init="orthogonal", seed=4, step=2.0),
         tf.random.stateless_normal([2, 2, 3, 192], seed=(1, 2))),
        (tfnq.BlockSynthesis, dict(init="jpeg", step=8.0),
         tf.random.stateless_normal([2, 2, 3, 192], seed=(1, 2))),
    ]


@pytest.mark.parametrize("index", range(7))
def test_config_round_trip(index):
    cls, kwargs, x = _layer_cases()[index]
    layer = cls(name="original", **kwargs)
    expected = layer(x).numpy()
    config = layer.get_config()
    for key, value in kwargs.items():
        assert config[key] == value
    clone = cls.from_config(config)
    assert type(clone) is cls
    assert clone.get_config() == config
    np.testing.assert_array_equal(clone(x).numpy(), expected)


def test_config_of_soft_round_layer_with_a_shared_variable():
    alpha = tf.Variable(2.5, trainable=False)
    layer = tfnq.SoftRound(alpha)
    config = layer.get_config()
    assert config["alpha"] == 2.5
    alpha.assign(6.0)
    assert layer.get_config()["alpha"] == 6.0
    # A clone from the config has its own variable.
    clone = tfnq.SoftRound.from_config(layer.get_config())
    assert clone.alpha is not alpha
    alpha.assign(1.0)
    assert float(clone.alpha.numpy()) == 6.0


# ------------------------------------------------------------------- soft rounding


def test_soft_round_layers_compute_the_ops():
    x = tf.constant(np.linspace(-2.2, 2.2, 45, dtype=np.float32))
    np.testing.assert_array_equal(tfnq.SoftRound(alpha=5.0)(x).numpy(),
                                  soft_rounding.soft_round(x, 5.0).numpy())
    np.testing.assert_array_equal(tfnq.SoftRoundInverse(alpha=5.0)(x).numpy(),
                                  soft_rounding.soft_round_inverse(x, 5.0).numpy())
    np.testing.assert_array_equal(tfnq.SoftRoundConditionalMean(alpha=5.0)(x).numpy(),
                                  soft_rounding.soft_round_conditional_mean(x, 5.0).numpy())
    # A float64 layer casts alpha to float64 (Keras casts inputs to the layer's dtype).
    x64 = tf.cast(x, tf.float64)
    out64 = tfnq.SoftRound(alpha=5.0, dtype="float64")(x64)
    assert out64.dtype == tf.float64
    np.testing.assert_array_equal(
        out64.numpy(), soft_rounding.soft_round(x64, tf.constant(5.0, tf.float64)).numpy())


def test_soft_round_layers_own_a_non_trainable_alpha():
    layer = tfnq.SoftRound(alpha=4.0)
    assert isinstance(layer.alpha, tf.Variable)
    assert not layer.alpha.trainable
    assert layer.compute_output_shape([3, 5]) == [3, 5]


def test_soft_round_layers_sharing_a_variable_follow_an_assignment():
    alpha = tf.Variable(1.0, trainable=False)
    forward = tfnq.SoftRound(alpha)
    inverse = tfnq.SoftRoundInverse(alpha)
    mean = tfnq.SoftRoundConditionalMean(alpha)
    assert forward.alpha is alpha and inverse.alpha is alpha and mean.alpha is alpha
    x = tf.constant(np.linspace(-2.3, 2.3, 47, dtype=np.float32))

    @tf.function
    def graph_forward(x):
        return forward(x)

    before = forward(x).numpy()
    before_graph = graph_forward(x).numpy()
    alpha.assign(8.0)
    for layer, op in ((forward, soft_rounding.soft_round),
                      (inverse, soft_rounding.soft_round_inverse),
                      (mean, soft_rounding.soft_round_conditional_mean)):
        np.testing.assert_array_equal(layer(x).numpy(), op(x, 8.0).numpy())
    np.testing.assert_allclose(graph_forward(x).numpy(), soft_rounding.soft_round(x, 8.0).numpy(),
                               rtol=0, atol=1e-6)
    assert np.abs(forward(x).numpy() - before).max() > 0.1
    assert np.abs(graph_forward(x).numpy() - before_graph).max() > 0.1
    # Inverse and forward stay inverses of each other after the assignment.
    np.testing.assert_allclose(inverse(forward(x)).numpy(), x.numpy(), rtol=0, atol=1e-3)


def test_conditional_mean_layer_with_expected_gradients():
    alpha = tf.Variable(8.0, trainable=False)
    layer = tfnq.SoftRoundConditionalMean(alpha)
    rng = np.random.default_rng(0)
    y = tf.constant(rng.uniform(-2, 2, 64).astype(np.float32))
    u = tf.constant(rng.uniform(-0.5, 0.5, 64).astype(np.float32))
    for expected_grads in (True, False):
        with tf.GradientTape() as tape:
            tape.watch(y)
            out = layer(y + u, clean=y, expected_grads=expected_grads)
        grad = tape.gradient(out, y).numpy()
        np.testing.assert_array_equal(
            out.numpy(), soft_rounding.soft_round_conditional_mean(y + u, 8.0).numpy())
        if expected_grads:
            np.testing.assert_allclose(grad, 1.0, rtol=0, atol=1e-3)
        else:
            assert np.abs(grad - 1.0).max() > 0.5
