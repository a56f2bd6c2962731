"""Tests for tfnq.entropy_models.universal_batched: universal quantization and coding.

Sec. 3.2 of Agustsson & Theis (NeurIPS 2020): the encoder sends K = round(y - u), the
decoder forms K + u, and K is coded with P(K = k | u) = p_{Y+U}(k + u). With
`dither=False` the offset is zero, i.e. plain rounding coded with p_{Y+U}(k).

The latents are drawn from a logistic distribution with scale 3 and the priors
roughly match it, so coded sizes are close to the information content.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc
import tensorflow_probability as tfp

import tfnq
from tfnq.entropy_models import UniversalBatchedEntropyModel

C, H, W = 8, 50, 50  # 20,000 latent elements per image.
NUM_NOISE_LEVELS = 15
RATE_TOLERANCE = 0.01  # |coded bits / estimated bits - 1| for >= 20k elements.
ERROR = tf.errors.InvalidArgumentError


def _latents(seed=0, batch=1, scale=3.0, shape=(H, W, C)):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.logistic(0.0, scale, size=(batch, *shape)).astype(np.float32))


def _logistic_prior(channels=C):
    return tfc.NoisyLogistic(loc=tf.zeros([channels]),
                             scale=tf.linspace(2.5, 3.5, channels))


def _deep_factorized_prior(channels=C):
    tf.random.set_seed(0)
    return tfnq.noisy_density(tfc.DeepFactorized(batch_shape=[channels]))


_PRIORS = {"logistic": _logistic_prior, "deep_factorized": _deep_factorized_prior}
_MODELS = {}


def _model(prior_name, dither):
    """Entropy models with tables, built once per module (DeepFactorized takes ~4 s)."""
    key = (prior_name, dither)
    if key not in _MODELS:
        _MODELS[key] = UniversalBatchedEntropyModel(
            _PRIORS[prior_name](), coding_rank=3, dither=dither, compression=True,
            num_noise_levels=NUM_NOISE_LEVELS)
    return _MODELS[key]


# The DeepFactorized prior is only built with dither (its tables take seconds to build,
# mostly locating the tails); the logistic prior covers both settings.
PRIOR_AND_DITHER = [("logistic", True), ("logistic", False), ("deep_factorized", True)]


@pytest.mark.parametrize("prior_name,dither", PRIOR_AND_DITHER)
def test_tables_and_files_are_tfcs(prior_name, dither):
    """tfnq's model (on tfc's public ops only) builds the tables of tfc's own universal
    model with the same prior and levels, and writes tfc's very strings."""
    em = _model(prior_name, dither)
    reference = tfc.UniversalBatchedEntropyModel(
        em.prior, coding_rank=3, compression=True, num_noise_levels=em.num_noise_levels)
    np.testing.assert_array_equal(em.cdf.numpy(), reference.cdf.numpy())
    np.testing.assert_array_equal(em.cdf_offset.numpy(), reference.cdf_offset.numpy())
    y = _latents(seed=4, batch=2)
    strings = em.compress(y)
    np.testing.assert_array_equal(strings.numpy(), reference.compress(y).numpy())
    np.testing.assert_array_equal(reference.decompress(strings, [H, W]).numpy(),
                                  em.decompress(strings, [H, W]).numpy())
    _, bits = em(y, training=False)
    _, reference_bits = reference(y, training=False)
    np.testing.assert_allclose(bits.numpy(), reference_bits.numpy(), rtol=1e-6)


class CountingRangeCoder(tfnq.coders.RangeCoder):
    """The range coder, counting how often the entropy model calls it."""

    def __init__(self):
        super().__init__()
        self.encode_calls = 0
        self.decode_calls = 0

    def encode(self, symbols, indexes, cdf, cdf_offset, coding_rank):
        self.encode_calls += 1
        return super().encode(symbols, indexes, cdf, cdf_offset, coding_rank)

    def decode(self, strings, indexes, cdf, cdf_offset):
        self.decode_calls += 1
        return super().decode(strings, indexes, cdf, cdf_offset)


class ReversingCoder(tfnq.coders.RangeCoder):
    """Stores the range coder's bytes reversed: decoding only works through this coder."""

    def encode(self, symbols, indexes, cdf, cdf_offset, coding_rank):
        strings = super().encode(symbols, indexes, cdf, cdf_offset, coding_rank)
        return tf.map_fn(_reverse_bytes, strings)

    def decode(self, strings, indexes, cdf, cdf_offset):
        strings = tf.map_fn(_reverse_bytes, tf.convert_to_tensor(strings, tf.string))
        return super().decode(strings, indexes, cdf, cdf_offset)


def _reverse_bytes(string):
    chars = tf.strings.bytes_split(string)
    return tf.strings.reduce_join(tf.reverse(chars, [0]))


# ------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("prior_name,dither", PRIOR_AND_DITHER)
def test_round_trip_is_bit_exact(prior_name, dither):
    em = _model(prior_name, dither)
    y = _latents()
    strings = em.compress(y)
    assert strings.shape == [1]
    decoded = em.decompress(strings, [H, W])
    assert decoded.shape == y.shape and decoded.dtype == tf.float32
    np.testing.assert_array_equal(decoded.numpy(), em.quantize(y).numpy())
    y_hat, _ = em(y, training=False)
    np.testing.assert_array_equal(decoded.numpy(), y_hat.numpy())


@pytest.mark.parametrize("dither", [True, False])
def test_round_trip_of_a_batch(dither):
    em = _model("logistic", dither)
    y = _latents(seed=3, batch=2, shape=(10, 12, C))
    strings = em.compress(y)
    assert strings.shape == [2]
    decoded = em.decompress(strings, [10, 12])
    np.testing.assert_array_equal(decoded.numpy(), em.quantize(y).numpy())
    np.testing.assert_array_equal(decoded.numpy(), em(y, training=False)[0].numpy())
    # Each string decodes on its own.
    first = em.decompress(strings[:1], [10, 12])
    np.testing.assert_array_equal(first.numpy(), decoded.numpy()[:1])


def test_without_dither_the_reconstruction_is_rounding():
    em = _model("logistic", False)
    assert not em.dither
    assert em.num_noise_levels == 1
    y = _latents(seed=1)
    decoded = em.decompress(em.compress(y), [H, W])
    np.testing.assert_array_equal(decoded.numpy(), np.round(y.numpy()))
    np.testing.assert_array_equal(em.quantize(y).numpy(), np.round(y.numpy()))


def test_round_trip_without_batch_dimensions():
    em = _model("logistic", True)
    y = _latents(seed=12, shape=(6, 7, C))[0]
    strings = em.compress(y)
    assert strings.shape == []
    np.testing.assert_array_equal(em.decompress(strings, [6, 7]).numpy(),
                                  em.quantize(y).numpy())


def test_round_trip_with_a_scalar_prior():
    em = UniversalBatchedEntropyModel(tfc.NoisyLogistic(loc=0.0, scale=3.0), coding_rank=1,
                                      compression=True)
    y = _latents(seed=13, batch=3, shape=(50,))
    strings = em.compress(y)
    assert strings.shape == [3]
    decoded = em.decompress(strings, [50])
    np.testing.assert_array_equal(decoded.numpy(), em.quantize(y).numpy())
    np.testing.assert_array_equal(decoded.numpy(), em(y, training=False)[0].numpy())


@pytest.mark.parametrize("dither", [True, False])
def test_round_trip_in_tf_functions_with_unknown_shapes(dither):
    """As in an exported model: shapes are only known when the functions run."""
    em = _model("logistic", dither)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, C], tf.float32)])
    def compress(y):
        return em.compress(y), tf.shape(y)[1:3]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string),
                                  tf.TensorSpec([2], tf.int32)])
    def decompress(strings, shape):
        return em.decompress(strings, shape)

    y = _latents(seed=14, batch=2, shape=(9, 11, C))
    strings, shape = compress(y)
    np.testing.assert_array_equal(strings.numpy(), em.compress(y).numpy())
    np.testing.assert_array_equal(decompress(strings, shape).numpy(), em.quantize(y).numpy())
    with pytest.raises(ERROR, match="tfnq:"):
        decompress(tf.constant([strings.numpy()[0] + b"\x00" * 16]), shape)


@pytest.mark.parametrize("prior_name", ["logistic", "deep_factorized"])
def test_dither_offsets(prior_name):
    em = _model(prior_name, True)
    assert em.dither
    assert em.num_noise_levels == NUM_NOISE_LEVELS
    y = _latents(seed=2)
    y_hat = em.quantize(y).numpy()
    error = y_hat - y.numpy()
    assert np.all(np.abs(error) <= 0.5)
    assert not np.array_equal(y_hat, np.round(y.numpy()))
    assert not np.allclose(error, np.round(y.numpy()) - y.numpy())
    # The offsets are the quantized dither values (j + 1) / (L + 1) - 1/2 ...
    offsets = y_hat - np.round(y_hat)
    levels = (np.arange(NUM_NOISE_LEVELS) + 1) / (NUM_NOISE_LEVELS + 1) - 0.5
    distance = np.abs(offsets[..., None] - levels).min(axis=-1)
    assert distance.max() < 1e-5
    # ... all of which occur, about equally often, independently across elements.
    counts = np.bincount(np.abs(offsets[..., None] - levels).argmin(axis=-1).ravel(),
                         minlength=NUM_NOISE_LEVELS)
    expected = offsets.size / NUM_NOISE_LEVELS
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    # They are shared between sender and receiver: a new model has the same ones.
    other = UniversalBatchedEntropyModel(_logistic_prior(), coding_rank=3, dither=True)
    np.testing.assert_array_equal(other.quantize(y).numpy(), y_hat)


@pytest.mark.parametrize("prior_name,dither", PRIOR_AND_DITHER)
def test_coded_size_matches_the_estimate(prior_name, dither):
    em = _model(prior_name, dither)
    y = _latents(seed=4)
    assert int(np.prod(y.shape)) >= 20_000
    strings = em.compress(y)
    coded_bits = 8 * len(strings.numpy()[0])
    _, estimated_bits = em(y, training=False)
    estimated_bits = float(estimated_bits.numpy()[0])
    assert abs(coded_bits / estimated_bits - 1) < RATE_TOLERANCE, (coded_bits, estimated_bits)


# -------------------------------------------------------------------------- training


@pytest.mark.parametrize("prior_name", ["logistic", "deep_factorized"])
def test_training_mode_adds_uniform_noise_and_returns_the_density_rate(prior_name):
    em = _model(prior_name, True)
    y = _latents(seed=5)
    y_tilde, bits = em(y, training=True)
    noise = (y_tilde - y).numpy()
    # float32 rounding of y + u may land exactly on the interval ends.
    assert np.all(noise >= -0.5 - 1e-6) and np.all(noise < 0.5 + 1e-6)
    assert abs(noise.mean()) < 0.01
    assert abs(noise.var() - 1 / 12) < 0.005
    assert bits.shape == [1]
    expected = -np.sum(np.log2(em.prior.prob(y_tilde).numpy().astype(np.float64)))
    np.testing.assert_allclose(float(bits[0]), expected, rtol=1e-4)
    # Fresh noise on every call.
    y_tilde2, _ = em(y, training=True)
    assert not np.array_equal(y_tilde.numpy(), y_tilde2.numpy())


def test_training_mode_gradients():
    prior = _logistic_prior()
    y = _latents(seed=6, shape=(4, 4, C))
    for expected_grads in (False, True):
        em = UniversalBatchedEntropyModel(prior, coding_rank=3, expected_grads=expected_grads)
        with tf.GradientTape() as tape:
            tape.watch(y)
            _, bits = em(y, training=True)
        grad = tape.gradient(bits, y)
        assert grad is not None and np.all(np.isfinite(grad.numpy()))
        if expected_grads:
            # Eq. 17: d bits / dy = -log2 p(y + 1/2) + log2 p(y - 1/2), independent of u.
            expected = (-np.log2(prior.prob(y + 0.5).numpy().astype(np.float64))
                        + np.log2(prior.prob(y - 0.5).numpy().astype(np.float64)))
            np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-3, atol=1e-5)


# --------------------------------------------------------------------- damaged data


def _damaged_strings(string):
    mid = len(string) // 2
    flipped = bytearray(string)
    flipped[mid:mid + 8] = bytes(b ^ 0xFF for b in flipped[mid:mid + 8])
    one_bit = bytearray(string)
    one_bit[mid] ^= 0x10
    early = bytearray(string)
    early[2] ^= 0x5A
    return {
        "flipped_middle": bytes(flipped),
        "one_bit": bytes(one_bit),
        "flipped_early": bytes(early),
        "truncated_half": string[:mid],
        "truncated_last_byte": string[:-1],
        "empty": b"",
        "zeros": bytes(len(string)),
    }


@pytest.mark.parametrize("dither", [True, False])
def test_decompress_of_damaged_strings_does_not_crash(dither):
    em = _model("logistic", dither)
    y = _latents(seed=7, shape=(20, 20, C))
    string = em.compress(y).numpy()[0]
    for name, damaged in _damaged_strings(string).items():
        try:
            decoded = em.decompress(tf.constant([damaged]), [20, 20])
        except ERROR as error:  # Detected: the message says where it comes from.
            assert "tfnq:" in str(error), name
        else:  # Range decoders cannot always detect damage; the output is well formed.
            assert decoded.shape == y.shape, name
            assert np.all(np.isfinite(decoded.numpy())), name


def test_decompress_detects_trailing_garbage():
    em = _model("logistic", True)
    y = _latents(seed=8, shape=(20, 20, C))
    string = em.compress(y).numpy()[0]
    with pytest.raises(ERROR, match="tfnq:"):
        em.decompress(tf.constant([string + b"\x00" * 16]), [20, 20])


# ------------------------------------------------------------------------ the coder


def test_coder_argument_is_honoured():
    coder = CountingRangeCoder()
    em = UniversalBatchedEntropyModel(_logistic_prior(), coding_rank=3, compression=True,
                                      coder=coder)
    assert em.coder is coder
    y = _latents(seed=9, shape=(10, 10, C))
    strings = em.compress(y)
    assert (coder.encode_calls, coder.decode_calls) == (1, 0)
    decoded = em.decompress(strings, [10, 10])
    assert (coder.encode_calls, coder.decode_calls) == (1, 1)
    np.testing.assert_array_equal(decoded.numpy(), em.quantize(y).numpy())
    # Same bytes as the default coder.
    default = _model("logistic", True)
    np.testing.assert_array_equal(strings.numpy(), default.compress(y).numpy())


def test_coder_output_is_what_gets_stored():
    em = UniversalBatchedEntropyModel(_logistic_prior(), coding_rank=3, compression=True,
                                      coder=ReversingCoder())
    default = _model("logistic", True)
    y = _latents(seed=10, shape=(10, 10, C))
    strings = em.compress(y)
    assert strings.numpy()[0] == default.compress(y).numpy()[0][::-1]
    np.testing.assert_array_equal(em.decompress(strings, [10, 10]).numpy(),
                                  em.quantize(y).numpy())


def test_the_coders_decode_index_is_stored_beside_the_tables():
    # rANS takes a decode index: built with the tables, held as a variable (so a
    # SavedModel carries it), passed to every decode; not one of the table variables
    # that make a model's identity (tfnq.fingerprint).
    em = UniversalBatchedEntropyModel(_logistic_prior(), coding_rank=3, compression=True,
                                      coder=tfnq.coders.RansCoder(jit_compile=True))
    np.testing.assert_array_equal(em._decode_index.numpy(),
                                  em.coder.decode_index(em.cdf).numpy())
    assert em._decode_index in list(em.variables)
    assert [v.name for v in em.table_variables] == [em._cdf.name, em._cdf_offset.name]
    y = _latents(seed=11, shape=(10, 10, C))
    np.testing.assert_array_equal(em.decompress(em.compress(y), [10, 10]).numpy(),
                                  em.quantize(y).numpy())
    assert _model("logistic", True)._decode_index is None  # The range coder takes none.


def test_default_coder_is_the_range_coder():
    assert isinstance(_model("logistic", True).coder, tfnq.coders.RangeCoder)


def test_get_config():
    em = _model("logistic", False)
    config = em.get_config()
    assert config["coding_rank"] == 3
    assert config["dither"] is False
    assert config["num_noise_levels"] == 1
    assert config["expected_grads"] is False
    assert config["tail_mass"] == 2**-8


# ------------------------------------------------------------- soft-rounded priors


SOFT_ROUND_BASES = {
    "logistic": tfp.distributions.Logistic,
    "normal": tfp.distributions.Normal,
}


@pytest.mark.parametrize("dither", [True, False])
@pytest.mark.parametrize("base_name", sorted(SOFT_ROUND_BASES))
def test_soft_round_adapted_prior_at_alpha_16(base_name, dither):
    alpha = tf.Variable(16.0, trainable=False)
    base = SOFT_ROUND_BASES[base_name](tf.zeros([4]), tf.linspace(2.0, 4.0, 4))
    prior = tfnq.SoftRoundAdaptedDensity(base, alpha)
    em = UniversalBatchedEntropyModel(prior, coding_rank=3, dither=dither, compression=True)
    cdf = em.cdf.numpy()
    assert cdf.size > 0 and np.all(np.isfinite(cdf))
    # Latents from the base itself, so that the coded size is close to the estimate (with
    # a mismatched prior, tail symbols go through the overflow escape, which can cost
    # much less than their -log2 p under a light-tailed prior such as the normal).
    y = tfnq.ops.soft_round(base.sample([1, 40, 40], seed=11), alpha)
    strings = em.compress(y)
    decoded = em.decompress(strings, [40, 40])
    np.testing.assert_array_equal(decoded.numpy(), em.quantize(y).numpy())
    y_hat, bits = em(y, training=False)
    np.testing.assert_array_equal(decoded.numpy(), y_hat.numpy())
    coded_bits = 8 * len(strings.numpy()[0])
    assert abs(coded_bits / float(bits[0]) - 1) < 0.02, (coded_bits, float(bits[0]))
    _, train_bits = em(y, training=True)
    assert np.isfinite(train_bits.numpy()).all()
