"""Tests for tfnq.models.LinearCodec: training step, test-time modes and real coding."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import BY_MODE, SR, UNQ, UNUQ, odd_sizes, random_image, sample_crop

import tfnq

CENTER = 127.5
TRAIN_CONFIGS = {
    "UN": dict(),
    "SR": dict(soft_round=True, alpha=4.0),
    "SR+E": dict(soft_round=True, expected_grads=True, alpha=4.0),
}


def _batch(seed=0):
    images = np.stack([random_image(16, 24, seed=seed), random_image(16, 24, seed=seed + 1)])
    return tf.constant(images, tf.float32)


@pytest.mark.parametrize("config", sorted(TRAIN_CONFIGS))
def test_training_call_finite_with_gradients(config):
    model = tfnq.LinearCodec(init="jpeg", init_step=16, **TRAIN_CONFIGS[config])
    x = _batch()
    with tf.GradientTape() as tape:
        bpp, mse, x_hat = model(x, training=True)
        loss = bpp + 0.01 * mse
    assert bpp.shape == () and mse.shape == ()
    assert np.isfinite(bpp.numpy()) and bpp.numpy() > 0
    assert np.isfinite(mse.numpy()) and mse.numpy() >= 0
    assert x_hat.shape == x.shape
    variables = model.trainable_variables
    names = {v.name for v in variables}
    # The transforms and the density are all trained.
    for v in model.transform_variables + model.density_variables:
        assert v.name in names
    assert not any("alpha" in v.name for v in variables)
    grads = tape.gradient(loss, variables)
    for v, g in zip(variables, grads, strict=True):
        assert g is not None, f"no gradient for {v.name}"
        g = tf.convert_to_tensor(g)
        assert np.all(np.isfinite(g.numpy())), f"non-finite gradient for {v.name}"
    assert any(np.any(tf.convert_to_tensor(g).numpy() != 0) for g in grads)


def test_eval_un_q_reconstructs_from_rounded_latents(exported):
    model = exported.use(UNQ)
    x = _batch(seed=3)
    bpp, mse, x_hat = model(x, training=False, mode="UN+Q")
    assert np.isfinite(bpp.numpy()) and np.isfinite(mse.numpy())
    y = model.analysis(x - CENTER)
    expected = model.synthesis(tf.round(y)) + CENTER
    np.testing.assert_allclose(x_hat.numpy(), expected.numpy(), atol=1e-3)
    # The coding tables prepare_coding("UN+Q") built quantize by plain rounding.
    assert model.coding_mode.name == "UN+Q"
    coding = model.latent_codec.coding_models[0]
    np.testing.assert_array_equal(coding.quantize(y).numpy(), tf.round(y).numpy())


def test_eval_un_uq_uses_dithered_quantization(exported):
    model = exported.use(UNUQ)
    x = _batch(seed=3)
    _, _, x_hat_q = model(x, training=False, mode="UN+Q")
    bpp, mse, x_hat_uq = model(x, training=False, mode="UN+UQ")
    assert np.isfinite(bpp.numpy()) and np.isfinite(mse.numpy())
    assert not np.allclose(x_hat_uq.numpy(), x_hat_q.numpy(), atol=1e-3)
    y = model.analysis(x - CENTER)
    q = model.latent_codec.coding_models[0].quantize(y).numpy()
    assert not np.array_equal(q, tf.round(y).numpy())
    assert np.max(np.abs(q - y.numpy())) <= 0.5 + 1e-4
    # The evaluation call reconstructs what the decoder will (same dither).
    expected = model.synthesis(q) + CENTER
    np.testing.assert_allclose(x_hat_uq.numpy(), expected.numpy(), atol=1e-3)


@pytest.mark.parametrize("soft_round, mode", [
    (False, "UN+UQ+SR"), (True, "UN+Q"), (True, "UN+UQ")])
def test_prepare_coding_rejects_mode_of_other_training(soft_round, mode):
    model = tfnq.LinearCodec(init="jpeg", soft_round=soft_round)
    with pytest.raises(ValueError, match="soft rounding"):
        model.prepare_coding(mode)
    assert model.latent_codec.coding_models is None


def test_prepare_coding_rejects_unknown_mode():
    with pytest.raises(ValueError, match="Unknown mode"):
        tfnq.LinearCodec(init="jpeg").prepare_coding("UN+XQ")


@pytest.mark.parametrize("config", sorted(TRAIN_CONFIGS))
def test_get_config_round_trip(config):
    model = tfnq.LinearCodec(init="jpeg", init_step=16, seed=3, **TRAIN_CONFIGS[config])
    clone = tfnq.LinearCodec(**model.get_config())
    assert clone.get_config() == model.get_config()
    assert [v.shape for v in clone.trainable_variables] == [
        v.shape for v in model.trainable_variables]
    for a, b in zip(clone.transform_variables, model.transform_variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    _, _, x_hat = clone(_batch(), training=True)
    assert x_hat.shape == (2, 16, 24, 3)


def _check_round_trip(model, height, width):
    image = random_image(height, width, seed=height * 100 + width)
    sections = model.compress_image(image)
    assert len(sections) == model.num_sections == 1
    assert sections[0].dtype == tf.string and sections[0].shape == ()
    decoded = model.decompress_image(sections, height, width).numpy()
    expected = model.reconstruct_image(image).numpy()
    assert decoded.dtype == np.uint8 and decoded.shape == (height, width, 3)
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("size", odd_sizes())
@pytest.mark.parametrize("mode", sorted(BY_MODE))
def test_compress_decompress_bit_exact_odd_sizes(exported, mode, size):
    _check_round_trip(exported.use(BY_MODE[mode]), *size)


@pytest.mark.parametrize("size", [(4, 4), (4, 11), (12, 5)])
def test_smallest_sides_that_pad(exported, size):
    # Sides 4 and 5 need padding 4 and 3 (<= the side), which works.
    _check_round_trip(exported.use(UNUQ), *size)


@pytest.mark.parametrize("size", [(2, 16), (16, 3), (3, 2)])
def test_sides_below_four(exported, size):
    _check_round_trip(exported.use(UNUQ), *size)


@pytest.mark.parametrize("mode", sorted(BY_MODE))
def test_coded_length_matches_estimate(exported, mode):
    """Bound: |8 * len(string) - estimate_bits| <= 0.01 * estimate_bits + 64 bits."""
    model = exported.use(BY_MODE[mode])
    image = sample_crop(256)
    sections = model.compress_image(image)
    coded_bits = 8 * len(sections[0].numpy())
    estimate = float(model.estimate_bits(image))
    assert estimate > 0
    assert abs(coded_bits - estimate) <= 0.01 * estimate + 64, (coded_bits, estimate)
    decoded = model.decompress_image(sections, 256, 256).numpy()
    np.testing.assert_array_equal(decoded, model.reconstruct_image(image).numpy())


def test_modes_of_one_model_code_differently(exported):
    image = sample_crop(64)
    q = exported.use(UNQ).compress_image(image)[0].numpy()
    uq = exported.use(UNUQ).compress_image(image)[0].numpy()
    assert q != uq
    assert exported.models[UNQ] is exported.models[UNUQ]
    assert exported.models[SR].soft_round
