"""Tests for tfnq.layers.signal_conv: tfc's SignalConv2D with a matrix-product RDFT kernel."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from tfnq import layers

CONFIGS = {
    "down": dict(filters=6, kernel_support=(5, 5), corr=True, strides_down=2,
                 activation="gdn"),
    "up": dict(filters=6, kernel_support=(5, 5), corr=False, strides_up=2),
    "3x3": dict(filters=4, kernel_support=(3, 3), corr=False),
}


def _pair(config):
    """A tfc layer and a tfnq layer built with the same configuration and weights."""
    config = dict(config, padding="same_zeros", use_bias=True)
    if config.get("activation") == "gdn":  # A GDN layer per convolution.
        tfc_layer = tfc.SignalConv2D(**dict(config, activation=tfc.GDN()))
        tfnq_layer = layers.SignalConv2D(**dict(config, activation=tfc.GDN()))
    else:
        tfc_layer, tfnq_layer = tfc.SignalConv2D(**config), layers.SignalConv2D(**config)
    for layer in (tfc_layer, tfnq_layer):
        layer.build([None, None, None, 3])
    for s, t in zip(tfc_layer.weights, tfnq_layer.weights, strict=True):
        t.assign(s + tf.random.stateless_normal(s.shape, seed=(1, 2)) * 0.1)
        s.assign(t)
    return tfc_layer, tfnq_layer


@pytest.mark.parametrize("name", list(CONFIGS))
def test_same_variables_and_outputs_as_tfc(name):
    tfc_layer, tfnq_layer = _pair(CONFIGS[name])
    assert ([(v.name, v.shape) for v in tfnq_layer.weights]
            == [(v.name, v.shape) for v in tfc_layer.weights])
    x = tf.random.stateless_uniform([2, 16, 20, 3], seed=(3, 4))
    expected = tfc_layer(x).numpy()
    np.testing.assert_allclose(tfnq_layer(x).numpy(), expected,
                               rtol=0, atol=1e-5 * np.abs(expected).max())


def test_kernel_is_the_rdft_parameters_kernel():
    _, layer = _pair(CONFIGS["down"])
    assert type(layer.kernel_parameter) is tfc.RDFTParameter
    expected = layer.kernel_parameter().numpy()
    np.testing.assert_allclose(layer.kernel.numpy(), expected, atol=1e-6)


def test_other_kernel_parameters_are_tfcs():
    layer = layers.SignalConv2D(4, (3, 3), kernel_parameter="variable")
    layer.build([None, None, None, 2])
    assert isinstance(layer.kernel_parameter, tf.Variable)
    np.testing.assert_array_equal(layer.kernel.numpy(), layer.kernel_parameter.numpy())


def test_checkpoints_are_interchangeable_with_tfcs(tmp_path):
    tfc_layer, _ = _pair(CONFIGS["up"])
    path = tf.train.Checkpoint(layer=tfc_layer).write(str(tmp_path / "ckpt"))
    layer = layers.SignalConv2D(**dict(CONFIGS["up"], padding="same_zeros", use_bias=True))
    layer.build([None, None, None, 3])
    tf.train.Checkpoint(layer=layer).read(path).assert_consumed()
    for s, t in zip(tfc_layer.weights, layer.weights, strict=True):
        np.testing.assert_array_equal(s.numpy(), t.numpy())


def test_gradients_reach_the_rdft_variables():
    _, layer = _pair(CONFIGS["3x3"])
    x = tf.random.stateless_uniform([1, 8, 8, 3], seed=(5, 6))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    grads = tape.gradient(loss, layer.trainable_variables)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    assert {v.name.split("/")[-1] for v in layer.trainable_variables} >= {
        "kernel_real:0", "kernel_imag:0"}


def test_config_round_trip():
    layer = layers.SignalConv2D(**dict(CONFIGS["up"], padding="same_zeros"))
    clone = layers.SignalConv2D.from_config(layer.get_config())
    assert type(clone) is layers.SignalConv2D
    assert clone.get_config() == layer.get_config()
