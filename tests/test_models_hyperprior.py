"""Tests for tfnq.models.MeanScaleHyperprior: training step, modes and real coding.

Tiny untrained models (N=8, M=12): every code path must round trip bit-exactly,
whatever the weights. Exported SavedModels are tested like the linear codec's.
"""

import numpy as np
import pytest
import tensorflow as tf
from conftest import odd_sizes, random_image

import tfnq
from tfnq import client, coding_config, export

N, M = 8, 12
CONFIGS = {
    "UN": dict(),
    "SR": dict(soft_round=True, alpha=4.0),
    "SR+E": dict(soft_round=True, expected_grads=True, alpha=4.0),
}
MODE_CONFIG = {"UN+Q": "UN", "UN+UQ": "UN", "UN+UQ+SR": "SR+E"}


def _model(config="UN", seed=0):
    tf.random.set_seed(seed)
    # A coarse scale grid keeps table building (once per mode) fast.
    return tfnq.MeanScaleHyperprior(N, M, num_scales=12, scale_max=20.0, **CONFIGS[config])


def _batch(seed=0, size=64):
    return tf.constant(np.stack([random_image(size, size, seed=seed),
                                 random_image(size, size, seed=seed + 1)]), tf.float32)


@pytest.fixture(scope="module")
def servables():
    """Mode -> ServableCodec of a tiny model (tables built once per mode).

    A model holds the coding tables of one mode at a time, so UN+Q and UN+UQ get a
    model each (same seed, same weights).
    """
    servables = {}
    for mode, config in MODE_CONFIG.items():
        model = _model(config)
        model.alpha.assign(16.0 if model.soft_round else 1.0)
        servables[mode] = export.ServableCodec(model, mode)
    return servables


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_training_call_finite_with_gradients(config):
    model = _model(config)
    x = _batch()
    with tf.GradientTape() as tape:
        bpp, mse, x_hat = model(x, training=True)
        loss = bpp + 0.01 * mse
    assert bpp.shape == () and mse.shape == () and x_hat.shape == x.shape
    assert np.isfinite(bpp.numpy()) and bpp.numpy() > 0
    assert np.isfinite(mse.numpy())
    variables = model.transform_variables + model.density_variables
    assert {v.ref() for v in variables} == {v.ref() for v in model.trainable_variables}
    assert not any("alpha" in v.name for v in model.trainable_variables)
    grads = tape.gradient(loss, variables)
    for v, g in zip(variables, grads, strict=True):
        assert g is not None, f"no gradient for {v.name}"
        assert np.all(np.isfinite(tf.convert_to_tensor(g).numpy())), v.name
    # Every transform receives a non-zero gradient (the hyper transforms via the rate).
    for transform in (model.analysis, model.synthesis, model.hyper_analysis,
                      model.hyper_synthesis):
        kernel_grads = [g for v, g in zip(variables, grads, strict=True)
                        if v.ref() in {w.ref() for w in transform.trainable_variables}]
        assert any(np.any(tf.convert_to_tensor(g).numpy() != 0) for g in kernel_grads)


def test_shapes_and_sizes():
    model = _model()
    y = model.analysis(_batch(size=128) / 255.0)
    assert y.shape == [2, 8, 8, M]
    v = model.hyper_analysis(y)
    assert v.shape == [2, 2, 2, N]
    assert model.hyper_synthesis(v).shape == [2, 8, 8, 2 * M]
    assert model.synthesis(y).shape == [2, 128, 128, 3]
    # The latents of a 65x64 image, padded to 128x64.
    np.testing.assert_array_equal(model.latent_shape(65, 64).numpy(), [8, 4])


def test_get_config_rebuilds_the_same_architecture():
    model = _model("SR+E")
    config = model.get_config()
    assert config["num_filters"] == N and config["num_latents"] == M
    assert config["soft_round"] and config["expected_grads"]
    clone = tfnq.MeanScaleHyperprior(**config)
    assert [v.shape for v in clone.weights] == [v.shape for v in model.weights]
    assert float(clone.alpha.numpy()) == float(model.alpha.numpy())


def _coded_residual(model, image):
    """Latents, the coded residual `z` and the mean it is coded around."""
    codec = model.latent_codec
    hyper_coding, coding = codec.coding_models
    y = model._latents(image)
    mean, index = codec._decoder_parameters(
        hyper_coding.quantize(codec._hyper_latents(y, None)))
    return y, coding.quantize(y - mean, index), mean


def test_un_q_quantizes_the_residual_by_rounding(servables):
    model = servables["UN+Q"].model
    image = tf.constant(random_image(64, 64, seed=5))
    y, z, mean = _coded_residual(model, image)
    # UN+Q codes round(y - mean): the coded residual is integer-valued.
    np.testing.assert_array_equal(z.numpy(), np.round(z.numpy()))
    np.testing.assert_allclose(z.numpy(), np.round((y - mean).numpy()), atol=1e-4)
    # The latent codec reconstructs mean + z.
    np.testing.assert_allclose(model.latent_codec.quantize(y)[0], mean + z, atol=1e-5)


def test_un_uq_dithers_the_residual(servables):
    model = servables["UN+UQ"].model
    image = tf.constant(random_image(64, 64, seed=5))
    y, z, mean = _coded_residual(model, image)
    error = (z - (y - mean)).numpy()
    assert np.all(np.abs(error) <= 0.5 + 1e-4)
    assert not np.array_equal(z.numpy(), np.round(z.numpy()))


@pytest.mark.parametrize("size", odd_sizes() + [pytest.param((65, 130), id="65x130")])
@pytest.mark.parametrize("mode", sorted(MODE_CONFIG))
def test_round_trip_is_bit_exact(servables, mode, size):
    servable = servables[mode]
    image = tf.constant(random_image(*size, seed=sum(size)))
    data = servable.compress(image)
    decoded = servable.decompress(data)
    assert decoded.shape == image.shape and decoded.dtype == tf.uint8
    np.testing.assert_array_equal(decoded.numpy(), servable.reconstruct(image).numpy())


@pytest.mark.parametrize("mode", sorted(MODE_CONFIG))
def test_file_size_and_estimate(servables, mode):
    """Two sections; the file is no larger than the estimate plus coder overhead.

    (An untrained model's densities do not fit its latents, so tail values go
    through the coder's escape code and can cost far less than their -log2 p.)
    """
    servable = servables[mode]
    image = tf.constant(random_image(128, 192, seed=9))
    data = servable.compress(image).numpy()
    estimate = float(servable.estimate_bits(image))
    assert estimate > 0
    overhead_bits = 8 * (27 + 4 + 2 * 16)  # container, second section, coder flush
    assert 8 * len(data) <= 1.01 * estimate + overhead_bits


@pytest.mark.parametrize("soft_round, mode", [
    (False, "UN+UQ+SR"), (True, "UN+Q"), (True, "UN+UQ")])
def test_prepare_coding_rejects_mode_of_other_training(soft_round, mode):
    model = tfnq.MeanScaleHyperprior(N, M, soft_round=soft_round)
    with pytest.raises(ValueError, match="soft rounding"):
        model.prepare_coding(mode)


def test_alpha_annealing_changes_the_densities():
    model = _model("SR")
    x = _batch(seed=2)
    tf.random.set_seed(1)
    bpp_1, _, _ = model(x, training=False, mode="UN+UQ+SR")
    model.alpha.assign(12.0)
    bpp_12, _, _ = model(x, training=False, mode="UN+UQ+SR")
    assert float(bpp_1) != float(bpp_12)


@pytest.fixture(scope="module")
def exported_hyperprior(tmp_path_factory, servables):
    root = tmp_path_factory.mktemp("hp_models")
    paths = {}
    # One with tfc's range coder, one with rANS in core TF ops (two forms).
    for mode, name, coder in [("UN+UQ", "hp-un-uq", "range"),
                              ("UN+UQ+SR", "hpsr-un-uq-sr", "rans")]:
        model = servables[mode].model
        paths[mode] = export.export_model(
            model, coding_config.get_coding_config(mode).with_coder(coder),
            str(root / name), training={"lmbda": 0.01})
    return paths


@pytest.mark.parametrize("mode", ["UN+UQ", "UN+UQ+SR"])
def test_exported_savedmodel_round_trip(exported_hyperprior, mode):
    codec = client.load(exported_hyperprior[mode])
    assert codec.metadata["architecture"] == "hyperprior"
    assert codec.metadata["config"]["num_latents"] == M
    image = random_image(37, 70, seed=3)
    data = codec.compress(image)
    decoded = codec.decompress(data)
    np.testing.assert_array_equal(decoded, codec.reconstruct(image))


@pytest.mark.parametrize("mode", ["UN+UQ", "UN+UQ+SR"])
def test_exported_bfloat16_synthesis(exported_hyperprior, mode):
    """The same files; each precision's decode is its own reconstruction, bit for bit;
    bfloat16 within a few levels of float32; every form has its signature."""
    full = client.load(exported_hyperprior[mode])
    low = client.load(exported_hyperprior[mode], precision="bfloat16")
    assert full.precision == "float32" and low.precision == "bfloat16"
    assert full.metadata["synthesis_dtypes"] == ["float32", "bfloat16"]
    image = random_image(45, 83, seed=6)
    data = full.compress(image)
    assert low.compress(image) == data
    decoded_full, decoded_low = full.decompress(data), low.decompress(data)
    np.testing.assert_array_equal(decoded_full, full.reconstruct(image))
    np.testing.assert_array_equal(decoded_low, low.reconstruct(image))
    difference = np.abs(decoded_full.astype(int) - decoded_low.astype(int))
    assert difference.max() <= 8
    loaded = tf.saved_model.load(exported_hyperprior[mode])
    forms = {name for name in loaded.signatures
             if name.startswith("decompress") and name != "decompress_symbols"}
    both = {"decompress", "decompress_bf16"}  # The SR model codes with rANS (+ XLA).
    assert forms == (both | {"decompress_xla", "decompress_xla_bf16"} if mode == "UN+UQ+SR"
                     else both)
    for name in sorted(forms):
        decoded = loaded.signatures[name](bitstring=tf.constant(data))["image"].numpy()
        np.testing.assert_array_equal(
            decoded, decoded_low if name.endswith("bf16") else decoded_full, err_msg=name)


def test_precision_choice_is_checked(exported_hyperprior):
    with pytest.raises(tfnq.CodecError, match="precision must be"):
        client.load(exported_hyperprior["UN+UQ"], precision="float16")
    auto = client.load(exported_hyperprior["UN+UQ"], precision="auto")
    assert auto.precision == ("bfloat16" if client.native_bfloat16() else "float32")


def test_exported_savedmodel_refuses_damaged_and_foreign_files(exported_hyperprior):
    codec = client.load(exported_hyperprior["UN+UQ"])
    other = client.load(exported_hyperprior["UN+UQ+SR"])
    image = random_image(40, 40, seed=4)
    data = codec.compress(image)
    with pytest.raises(tfnq.CodecError):
        other.decompress(data)
    with pytest.raises(tfnq.CodecError):
        codec.decompress(data[:len(data) // 2])
    flipped = bytearray(data)
    flipped[-5] ^= 0x40
    with pytest.raises(tfnq.CodecError):
        codec.decompress(bytes(flipped))
