"""Tests for tfnq.latent_codecs.mean_scale_hyperprior: when coding, means and table
indexes come from the integer hyper-synthesis, and are those of the float one to
within its fixed point (fixed-rate models in each preset, and a variable-rate model
with its gains folded in)."""

import numpy as np
import pytest
import tensorflow as tf

import tfnq
from tfnq import layers

N, M = 8, 12
SCALES = 16  # Fewer tables than the default 64: the same code, built faster.


def _hyper_symbols(shape=(1, 2, 3, N)):
    return tf.constant(np.round(np.random.default_rng(0).normal(0, 3, shape)), tf.int32)


def _both_paths(model, rate=None):
    """`(integer, float)`: the decoder's mean and index from hyper-latent symbols, and
    the float hyper-synthesis' of the same quantized hyper-latents."""
    codec = model.latent_codec
    hyper_coding, _ = codec.coding_models
    symbols = _hyper_symbols()
    state = codec.receive(0, symbols, codec.decoder_state(tf.constant([8, 12])))
    w_hat = hyper_coding.from_symbols(symbols)
    mean, index = codec.hyper_parameters(codec.channel.decode(w_hat), codec.gains_fn(rate))
    return (state["mean"], state["index"]), (mean, index)


@pytest.mark.parametrize("mode", ["UN+Q", "UN+UQ", "UN+UQ+SR"])
def test_coding_parameters_are_the_integer_transform_of_the_float_ones(mode):
    tf.random.set_seed(1)
    model = tfnq.MeanScaleHyperprior(num_filters=N, num_latents=M, alpha=8.0,
                                     soft_round=mode == "UN+UQ+SR", num_scales=SCALES)
    model.prepare_coding(mode)
    (mean, index), (float_mean, float_index) = _both_paths(model)
    assert isinstance(model.coding_transforms[0], layers.IntegerTransform)
    np.testing.assert_allclose(mean, float_mean, atol=1e-3)
    np.testing.assert_allclose(index, tf.clip_by_value(float_index, -1, SCALES), atol=1e-3)
    # Multiples of the fixed point, so that they are the same bits everywhere.
    step = 2.0**-layers.ACTIVATION_BITS
    assert np.all(np.mod(index.numpy(), step) == 0)


def test_variable_rate_gains_are_folded_in():
    tf.random.set_seed(2)
    model = tfnq.VariableRateHyperprior(lambdas=[0.002, 0.01, 0.05], reference_lambda=0.01,
                                         num_filters=N, num_latents=M, num_scales=SCALES)
    for v in model.log_hyper_inverse_gains + model.log_latent_gains:
        v.assign(tf.random.normal(v.shape, stddev=0.3))
    model.prepare_coding("UN+Q", rate=1)
    (mean, index), (float_mean, float_index) = _both_paths(model, rate=1)
    np.testing.assert_allclose(mean, float_mean, atol=1e-3)
    np.testing.assert_allclose(index, tf.clip_by_value(float_index, -1, SCALES), atol=1e-3)
