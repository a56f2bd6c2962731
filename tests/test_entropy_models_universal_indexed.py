"""Tests for tfnq.entropy_models.universal_indexed: conditional universal quantization.

Each element has its own density, chosen by an index: here a normal whose scale is
read off a log grid (as in the hyperprior, Eq. 23). The encoder sends
K = round(y - loc - u), the decoder forms K + u + loc; with `dither=False` the
offset is zero (rounding around `loc`). Latents are drawn from the very densities
their indexes select, so coded sizes are close to the information content.
"""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc
import tensorflow_probability as tfp

import tfnq
from tfnq.entropy_models import UniversalIndexedEntropyModel

H, W, C = 40, 50, 10  # 20,000 latent elements.
NUM_SCALES, SCALE_MIN, SCALE_MAX = 32, 0.11, 64.0
NUM_NOISE_LEVELS = 15
RATE_TOLERANCE = 0.01
ERROR = tf.errors.InvalidArgumentError
_STEP = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (NUM_SCALES - 1)


def _scale(index):
    return tf.math.exp(math.log(SCALE_MIN) + _STEP * index[..., 0])


def _prior_fn(alpha=None):
    def prior(scale):
        base = tfp.distributions.Normal(tf.zeros_like(scale), scale)
        return tfnq.noisy_density(base, alpha)
    return prior


_MODELS = {}


def _model(dither, alpha=None):
    key = (dither, alpha)
    if key not in _MODELS:
        _MODELS[key] = UniversalIndexedEntropyModel(
            _prior_fn(None if alpha is None else tf.Variable(alpha, trainable=False)),
            [NUM_SCALES], dict(scale=_scale), coding_rank=3, dither=dither,
            compression=True, num_noise_levels=NUM_NOISE_LEVELS)
    return _MODELS[key]


def _data(seed=0, batch=1, shape=(H, W, C), index_range=(4, 24), with_loc=True):
    """Latents, their (continuous) indexes and locations: y ~ N(loc, scale(round(index)))."""
    rng = np.random.default_rng(seed)
    index = rng.uniform(*index_range, size=(batch, *shape, 1)).astype(np.float32)
    scale = _scale(tf.round(index)).numpy()
    loc = rng.normal(0, 5, size=(batch, *shape)).astype(np.float32) if with_loc else None
    y = rng.normal(0, 1, size=(batch, *shape)).astype(np.float32) * scale
    if with_loc:
        y = y + loc
    return tf.constant(y), tf.constant(index), None if loc is None else tf.constant(loc)


@pytest.mark.parametrize("dither", [True, False])
def test_round_trip_is_bit_exact(dither):
    em = _model(dither)
    y, index, loc = _data()
    strings = em.compress(y, index, loc)
    assert strings.shape == [1]
    decoded = em.decompress(strings, index, loc)
    assert decoded.shape == y.shape
    np.testing.assert_array_equal(decoded.numpy(), em.quantize(y, index, loc).numpy())
    np.testing.assert_array_equal(decoded.numpy(), em(y, index, loc, training=False)[0].numpy())


def test_round_trip_of_a_batch_without_loc():
    em = _model(True)
    y, index, _ = _data(seed=1, batch=2, shape=(8, 9, C), with_loc=False)
    strings = em.compress(y, index)
    assert strings.shape == [2]
    decoded = em.decompress(strings, index)
    np.testing.assert_array_equal(decoded.numpy(), em.quantize(y, index).numpy())
    first = em.decompress(strings[:1], index[:1])
    np.testing.assert_array_equal(first.numpy(), decoded.numpy()[:1])


def test_without_dither_the_reconstruction_is_rounding_around_loc():
    em = _model(False)
    assert not em.dither and em.num_noise_levels == 1
    y, index, loc = _data(seed=2)
    expected = np.round(y.numpy() - loc.numpy()) + loc.numpy()
    decoded = em.decompress(em.compress(y, index, loc), index, loc)
    np.testing.assert_allclose(decoded.numpy(), expected, atol=1e-5)


def test_dither_offsets():
    em = _model(True)
    assert em.dither and em.num_noise_levels == NUM_NOISE_LEVELS
    y, index, _ = _data(seed=3, with_loc=False)
    y_hat = em.quantize(y, index).numpy()
    assert np.all(np.abs(y_hat - y.numpy()) <= 0.5 + 1e-6)
    offsets = y_hat - np.round(y_hat)
    levels = (np.arange(NUM_NOISE_LEVELS) + 1) / (NUM_NOISE_LEVELS + 1) - 0.5
    nearest = np.abs(offsets[..., None] - levels).argmin(axis=-1)
    assert np.abs(offsets - levels[nearest]).max() < 1e-5
    counts = np.bincount(nearest.ravel(), minlength=NUM_NOISE_LEVELS)
    expected = offsets.size / NUM_NOISE_LEVELS
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))


def test_indexes_are_rounded_to_the_tables_for_coding():
    """The estimate uses the table the coder uses: round(index), not the float index."""
    em = _model(True)
    y, index, loc = _data(seed=4)
    rounded = tf.round(index)
    np.testing.assert_array_equal(em.compress(y, index, loc).numpy(),
                                  em.compress(y, rounded, loc).numpy())
    _, bits = em(y, index, loc, training=False)
    _, bits_rounded = em(y, rounded, loc, training=False)
    np.testing.assert_array_equal(bits.numpy(), bits_rounded.numpy())


@pytest.mark.parametrize("dither", [True, False])
def test_coded_size_matches_the_estimate(dither):
    em = _model(dither)
    y, index, loc = _data(seed=5)
    coded_bits = 8 * len(em.compress(y, index, loc).numpy()[0])
    _, bits = em(y, index, loc, training=False)
    assert abs(coded_bits / float(bits[0]) - 1) < RATE_TOLERANCE, (coded_bits, float(bits[0]))


def _tfc_model(em, prior_fn, ranges, fns, coding_rank):
    """tfc's own (public) universal indexed model with the same prior and levels."""
    return tfc.UniversalIndexedEntropyModel(
        prior_fn, ranges, fns, coding_rank=coding_rank, compression=True,
        num_noise_levels=em.num_noise_levels)


@pytest.mark.parametrize("dither", [True, False])
def test_tables_and_files_are_tfcs(dither):
    """tfnq's model (on tfc's public ops only) builds tfc's tables and, for indexes on
    the table grid, writes tfc's very strings, decoded by tfc's model."""
    em = _model(dither)
    reference = _tfc_model(em, _prior_fn(), [NUM_SCALES], dict(scale=_scale), 3)
    np.testing.assert_array_equal(em.cdf.numpy(), reference.cdf.numpy())
    np.testing.assert_array_equal(em.cdf_offset.numpy(), reference.cdf_offset.numpy())
    y, index, _ = _data(seed=8, shape=(7, 9, C), index_range=(-20, NUM_SCALES + 20))
    index = tf.round(index)  # tfc truncates float indexes where tfnq rounds.
    strings = em.compress(y, index)
    np.testing.assert_array_equal(strings.numpy(), reference.compress(y, index).numpy())
    np.testing.assert_array_equal(reference.decompress(strings, index).numpy(),
                                  em.decompress(strings, index).numpy())
    _, bits = em(y, index, training=False)
    _, reference_bits = reference(y, index, training=False)
    np.testing.assert_allclose(bits.numpy(), reference_bits.numpy(), rtol=1e-6)


def test_coding_indexes_with_two_index_dimensions():
    def prior_fn(scale, loc):
        return tfc.NoisyNormal(loc=loc, scale=scale)
    fns = dict(scale=lambda i: tf.exp(i[..., 0] / 2), loc=lambda i: i[..., 1] / 4)
    em = UniversalIndexedEntropyModel(prior_fn, [6, 4], fns, coding_rank=1, dither=True,
                                      compression=True, num_noise_levels=5)
    reference = _tfc_model(em, prior_fn, [6, 4], fns, 1)
    np.testing.assert_array_equal(em.cdf.numpy(), reference.cdf.numpy())
    rng = np.random.default_rng(9)
    index = np.round(rng.uniform(-2, 8, size=(3, 50, 2))).astype(np.float32)
    rows, _ = em._coding_indexes(index)
    assert rows.numpy().max() < 5 * 6 * 4
    y = rng.normal(0, 2, size=(3, 50)).astype(np.float32)
    strings = em.compress(y, index)
    np.testing.assert_array_equal(strings.numpy(), reference.compress(y, index).numpy())
    decoded = em.decompress(strings, index)
    np.testing.assert_array_equal(decoded.numpy(), em.quantize(y, index).numpy())


def test_index_out_of_range_is_clipped_to_the_tables():
    em = _model(True)
    y, index, loc = _data(seed=6, shape=(6, 6, C))
    wild = index * 100 - 50  # far below 0 and far above NUM_SCALES - 1
    decoded = em.decompress(em.compress(y, wild, loc), wild, loc)
    np.testing.assert_array_equal(decoded.numpy(), em.quantize(y, wild, loc).numpy())


def test_training_mode_noise_rate_and_gradients():
    prior_fn = _prior_fn()
    y, index, loc = _data(seed=7, shape=(10, 10, C))
    for expected_grads in (False, True):
        em = UniversalIndexedEntropyModel(prior_fn, [NUM_SCALES], dict(scale=_scale),
                                          coding_rank=3, expected_grads=expected_grads)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([y, index, loc])
            y_tilde, bits = em(y, index, loc, training=True)
        noise = (y_tilde - y).numpy()
        assert np.all(np.abs(noise) <= 0.5 + 1e-5) and abs(noise.mean()) < 0.05
        # The rate is -log2 p(y + u - loc) under the continuous (unrounded) index.
        prior = prior_fn(_scale(index))
        expected = -np.sum(np.log2(prior.prob(y_tilde - loc).numpy().astype(np.float64)))
        np.testing.assert_allclose(float(bits[0]), expected, rtol=1e-4)
        for source in (y, index, loc):
            grad = tape.gradient(bits, source)
            assert grad is not None and np.all(np.isfinite(grad.numpy()))
            assert np.any(grad.numpy() != 0)


def test_damaged_strings_are_detected_or_decode_to_well_formed_output():
    em = _model(True)
    y, index, loc = _data(seed=8, shape=(12, 12, C))
    string = em.compress(y, index, loc).numpy()[0]
    mid = len(string) // 2
    for damaged in (string[:mid], string + b"\x00" * 16, b"", bytes(len(string)),
                    string[:mid] + bytes(b ^ 0xFF for b in string[mid:mid + 8])
                    + string[mid + 8:]):
        try:
            decoded = em.decompress(tf.constant([damaged]), index, loc)
        except ERROR as error:
            assert "tfnq:" in str(error)
        else:
            assert decoded.shape == y.shape and np.all(np.isfinite(decoded.numpy()))
    with pytest.raises(ERROR, match="tfnq:"):
        em.decompress(tf.constant([string + b"\x00" * 16]), index, loc)


def test_coder_argument_is_honoured():
    calls = []

    class Counting(tfnq.coders.RangeCoder):
        def encode(self, *args):
            calls.append("encode")
            return super().encode(*args)

        def decode(self, *args):
            calls.append("decode")
            return super().decode(*args)

    em = UniversalIndexedEntropyModel(_prior_fn(), [NUM_SCALES], dict(scale=_scale),
                                      coding_rank=3, compression=True, coder=Counting())
    y, index, loc = _data(seed=9, shape=(5, 5, C))
    strings = em.compress(y, index, loc)
    em.decompress(strings, index, loc)
    assert calls == ["encode", "decode"]
    np.testing.assert_array_equal(strings.numpy(), _model(True).compress(y, index, loc).numpy())


def test_soft_round_adapted_prior_at_alpha_16():
    """Tables for p_{s_16(R)+U} with R ~ N(0, scale) build and code (a NOTES.md pitfall)."""
    em = _model(True, alpha=16.0)
    assert np.all(np.isfinite(em.cdf.numpy()))
    y, index, _ = _data(seed=10, with_loc=False)
    y = tfnq.soft_round(y, 16.0)
    strings = em.compress(y, index)
    decoded = em.decompress(strings, index)
    np.testing.assert_array_equal(decoded.numpy(), em(y, index, training=False)[0].numpy())
    _, bits = em(y, index, training=False)
    assert abs(8 * len(strings.numpy()[0]) / float(bits[0]) - 1) < 0.02


def test_get_config():
    config = _model(False).get_config()
    assert config["index_ranges"] == [NUM_SCALES]
    assert config["dither"] is False and config["num_noise_levels"] == 1
    assert config["coding_rank"] == 3


def test_a_different_prior_family():
    """Any family works through prior_fn, e.g. a logistic with a scale index."""
    em = UniversalIndexedEntropyModel(
        lambda scale: tfc.NoisyLogistic(loc=tf.zeros_like(scale), scale=scale),
        [NUM_SCALES], dict(scale=_scale), coding_rank=2, compression=True)
    y, index, _ = _data(seed=11, shape=(30, C), with_loc=False)
    decoded = em.decompress(em.compress(y, index), index)
    np.testing.assert_array_equal(decoded.numpy(), em.quantize(y, index).numpy())
