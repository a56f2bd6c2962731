"""Tests for tfnq.evaluation.metrics."""

import math

import numpy as np
import pytest
import tensorflow as tf
from conftest import random_image, sample_crop

from tfnq import image_io
from tfnq.evaluation import metrics


def _noisy(image, sigma, seed=0):
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)


def test_psnr_and_mse_of_one_sample_off():
    a = random_image(8, 9)
    b = a.copy()
    b[0, 0, 0] ^= 16  # One sample off by 16: MSE = 256 / (8 * 9 * 3).
    assert metrics.mse(a, b) == pytest.approx(256 / 216)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 * 216 / 256))


def test_ms_ssim_is_tensorflow_s_with_standard_weights():
    a = sample_crop(176)[:, :170]
    b = _noisy(a, 8)
    expected = tf.image.ssim_multiscale(
        tf.constant(a, tf.float32), tf.constant(b, tf.float32), max_val=255.0)
    assert metrics.ms_ssim_scales(176, 170) == 5
    assert metrics.ms_ssim(a, b) == pytest.approx(float(expected), abs=1e-6)
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)


def test_ms_ssim_decreases_with_noise():
    a = sample_crop(64)
    values = [metrics.ms_ssim(a, _noisy(a, sigma)) for sigma in (2, 8, 32)]
    assert 1.0 > values[0] > values[1] > values[2] > 0.0


@pytest.mark.parametrize("side, scales", [
    (500, 5), (161, 5), (160, 4), (81, 4), (80, 3), (41, 3), (40, 2), (21, 2), (20, 1),
    (11, 1), (10, 0), (1, 0)])
def test_ms_ssim_scales(side, scales):
    # The shorter side decides.
    assert metrics.ms_ssim_scales(side, 1000) == scales
    assert metrics.ms_ssim_scales(1000, side) == scales


@pytest.mark.parametrize("height, width", [(48, 64), (40, 40), (12, 30)])
def test_ms_ssim_small_images_use_fewer_renormalized_scales(height, width):
    a = random_image(height, width, seed=1)
    b = _noisy(a, 10)
    scales = metrics.ms_ssim_scales(height, width)
    assert 1 <= scales < 5
    # With five scales TensorFlow refuses images this small.
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.image.ssim_multiscale(tf.constant(a, tf.float32), tf.constant(b, tf.float32), 255.0)
    weights = np.array(metrics.MS_SSIM_WEIGHTS[:scales])
    expected = tf.image.ssim_multiscale(
        tf.constant(a, tf.float32), tf.constant(b, tf.float32), 255.0,
        power_factors=tuple(weights / weights.sum()))
    value = metrics.ms_ssim(a, b)
    assert 0.0 < value < 1.0
    assert value == pytest.approx(float(expected), abs=1e-6)


def test_ms_ssim_one_scale_is_ssim():
    a = random_image(15, 30, seed=2)
    b = _noisy(a, 10)
    expected = tf.image.ssim(tf.constant(a, tf.float32), tf.constant(b, tf.float32), 255.0)
    assert metrics.ms_ssim(a, b) == pytest.approx(float(expected), abs=1e-5)


def test_ms_ssim_is_nan_below_one_scale():
    a = random_image(10, 40)
    assert math.isnan(metrics.ms_ssim(a, _noisy(a, 5)))
    assert math.isnan(metrics.ms_ssim(a[:1, :1], a[:1, :1]))


def test_ms_ssim_bad_input():
    with pytest.raises(image_io.ImageError, match="shapes differ"):
        metrics.ms_ssim(random_image(20, 20), random_image(20, 21))
    with pytest.raises(image_io.ImageError, match="H, W, C"):
        metrics.ms_ssim(np.zeros((20, 20)), np.zeros((20, 20)))


def test_ms_ssim_db():
    assert metrics.ms_ssim_db(0.99) == pytest.approx(20.0)
    assert metrics.ms_ssim_db(0.9) == pytest.approx(10.0)
    assert metrics.ms_ssim_db(1.0) == math.inf
    assert metrics.ms_ssim_db(None) is None
    assert metrics.ms_ssim_db(math.nan) is None


def test_mse_and_psnr_known_values():
    zeros = np.zeros((4, 5, 3), dtype=np.uint8)
    ones = np.ones((4, 5, 3), dtype=np.uint8)
    assert metrics.mse(zeros, ones) == 1.0
    assert metrics.psnr(zeros, ones) == pytest.approx(10 * math.log10(255.0**2))
    assert metrics.psnr(zeros, ones) == pytest.approx(48.1308036)
    assert metrics.psnr(ones, zeros, max_value=1.0) == pytest.approx(0.0)


def test_mse_no_uint8_wraparound():
    a = np.zeros((2, 2), dtype=np.uint8)
    b = np.full((2, 2), 255, dtype=np.uint8)
    assert metrics.mse(a, b) == 255.0**2
    assert metrics.mse(b, a) == 255.0**2
    assert metrics.psnr(a, b) == pytest.approx(0.0)


def test_psnr_identical_is_inf():
    image = random_image(6, 6)
    assert metrics.psnr(image, image.copy()) == math.inf
    assert metrics.mse(image, image) == 0.0


def test_psnr_matches_its_definition():
    """10 log10(255^2 / MSE) over all samples, computed here in float64 by hand (the
    skimage comparison this replaces was always skipped: skimage is not installed)."""
    a = random_image(16, 16, seed=9)
    b = random_image(16, 16, seed=10)
    squared = [(int(x) - int(y)) ** 2 for x, y in zip(a.ravel(), b.ravel(), strict=True)]
    expected = 10 * math.log10(255.0**2 / (sum(squared) / len(squared)))
    assert metrics.psnr(a, b) == pytest.approx(expected, rel=1e-12)
    # One level off in one sample of a 2x2x3 image: MSE 1/12.
    c = np.zeros((2, 2, 3), np.uint8)
    d = c.copy()
    d[1, 0, 2] = 1
    assert metrics.psnr(c, d) == pytest.approx(10 * math.log10(255.0**2 * 12))


def test_metrics_shape_mismatch():
    with pytest.raises(image_io.ImageError, match="^tfnq: image shapes differ"):
        metrics.psnr(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 3, 3), np.uint8))
