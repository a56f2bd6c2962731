"""Tests for tfnq.layers.hyperprior_transforms: shapes, layouts and configuration."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

import tfnq
from tfnq import layers

N, M = 8, 12
SHAPES = {  # input shape -> output shape for a [2, 128, 96, 3] image
    layers.AnalysisTransform: ([2, 128, 96, 3], [2, 8, 6, M]),
    layers.SynthesisTransform: ([2, 8, 6, M], [2, 128, 96, 3]),
    layers.HyperAnalysisTransform: ([2, 8, 6, M], [2, 2, 2, N]),
    layers.HyperSynthesisTransform: ([2, 2, 2, N], [2, 8, 8, 2 * M]),
}


@pytest.mark.parametrize("cls", list(SHAPES), ids=lambda c: c.__name__)
def test_output_shapes(cls):
    input_shape, output_shape = SHAPES[cls]
    out = cls(N, M)(tf.random.uniform(input_shape))
    assert out.shape == output_shape
    assert np.all(np.isfinite(out.numpy()))


@pytest.mark.parametrize("cls", list(SHAPES), ids=lambda c: c.__name__)
def test_config_round_trip(cls):
    layer = cls(N, M)
    config = layer.get_config()
    assert config["num_filters"] == N and config["num_latents"] == M
    clone = cls.from_config(config)
    clone.build(SHAPES[cls][0])
    layer.build(SHAPES[cls][0])
    assert [w.shape for w in clone.weights] == [w.shape for w in layer.weights]


def test_layouts():
    """Minnen et al. (2018) mean-scale layout: GDN in f, inverse GDN in g, 3N/2 in h_s."""
    analysis = layers.AnalysisTransform(N, M)
    gdn = [layer.activation for layer in analysis.layers[:3]]
    assert all(isinstance(g, tfc.GDN) and not g.inverse for g in gdn)
    synthesis = layers.SynthesisTransform(N, M)
    assert all(layer.activation.inverse for layer in synthesis.layers[:3])
    hyper_synthesis = layers.HyperSynthesisTransform(N, M)
    assert [layer.filters for layer in hyper_synthesis.layers] == [N, 3 * N // 2, 2 * M]
    assert analysis.layers[-1].activation is tf.keras.activations.linear


def test_public_api():
    assert tfnq.AnalysisTransform is layers.AnalysisTransform
    assert tfnq.HyperSynthesisTransform is layers.HyperSynthesisTransform
