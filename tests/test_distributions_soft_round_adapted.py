"""Tests for tfnq.distributions.soft_round_adapted: densities of s_alpha(Y) + U.

Eq. 22 of Agustsson & Theis (NeurIPS 2020) and App. E: for a base CDF c_Y,

    p_{s(Y)+U}(z) = P(z - 1/2 < s(Y) <= z + 1/2) = c_Y(s^{-1}(z + 1/2)) - c_Y(s^{-1}(z - 1/2)).

(The paper prints the arguments as `s^{-1}(z) +- 1/2`; the form above is the one that
follows from the derivation and integrates to one, and the one tfnq implements.)
Reference values use scipy's CDFs and a float64 numpy soft-round inverse written here.
"""

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf
import tensorflow_compression as tfc
import tensorflow_probability as tfp

from tfnq import distributions

tfd = tfp.distributions

ALPHAS = [1.0, 4.0, 10.0]
LOC, SCALE = 0.3, 2.0


def np_soft_round(y, alpha):
    y = np.asarray(y, np.float64)
    r = y - np.floor(y) - 0.5
    return np.floor(y) + 0.5 * np.tanh(alpha * r) / np.tanh(alpha / 2) + 0.5


def np_soft_round_inverse(z, alpha):
    z = np.asarray(z, np.float64)
    m = np.floor(z) + 0.5
    # Clip as tfc does: float64 rounding can push |2 tanh(alpha/2) (z - m)| just past 1.
    s = np.clip(2 * np.tanh(alpha / 2) * (z - m), -1.0, 1.0)
    with np.errstate(divide="ignore"):
        return m + np.clip(np.arctanh(s) / alpha, -0.5, 0.5)


def np_eq22(cdf, z, alpha):
    """Eq. 22 with a scipy CDF (alpha None: the plain noisy density c(z+.5) - c(z-.5))."""
    z = np.asarray(z, np.float64)
    if alpha is None:
        return cdf(z + 0.5) - cdf(z - 0.5)
    return cdf(np_soft_round_inverse(z + 0.5, alpha)) - cdf(np_soft_round_inverse(z - 0.5, alpha))


def make_base(kind, dtype=tf.float64):
    if kind == "logistic":
        return tfd.Logistic(tf.constant(LOC, dtype), tf.constant(SCALE, dtype))
    if kind == "normal":
        return tfd.Normal(tf.constant(LOC, dtype), tf.constant(SCALE, dtype))
    if kind == "deep_factorized":
        tf.random.set_seed(1)
        return tfc.DeepFactorized(batch_shape=[3], dtype=dtype)
    raise ValueError(kind)


SCIPY_CDFS = {
    "logistic": scipy.stats.logistic(loc=LOC, scale=SCALE).cdf,
    "normal": scipy.stats.norm(loc=LOC, scale=SCALE).cdf,
}


def _grid(half_width, step):
    return np.arange(-half_width, half_width + step / 2, step)


def _integral(density, half_width, step, dtype=tf.float64):
    z = _grid(half_width, step)
    batch_rank = density.batch_shape.rank
    p = density.prob(tf.constant(z.reshape([-1] + [1] * batch_rank), dtype)).numpy()
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    return np.trapz(p.astype(np.float64), z, axis=0)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("kind", ["logistic", "normal", "deep_factorized"])
def test_integrates_to_one(kind, alpha):
    density = distributions.SoftRoundAdaptedDensity(make_base(kind), alpha)
    assert density.dtype == tf.float64
    # The untrained DeepFactorized has an init scale of 10 and exponential tails: its
    # CDF is ~1e-9 at -+200.
    half_width = 200.0 if kind == "deep_factorized" else 40.0
    total = _integral(density, half_width, step=1e-3)
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_integrates_to_one_in_float32(alpha):
    base = make_base("deep_factorized", tf.float32)
    density = distributions.SoftRoundAdaptedDensity(base, alpha)
    assert density.dtype == tf.float32
    assert density.batch_shape == [3]
    total = _integral(density, 200.0, step=2e-3, dtype=tf.float32)
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-3)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("kind", ["logistic", "normal"])
def test_prob_is_eq_22(kind, alpha):
    density = distributions.SoftRoundAdaptedDensity(make_base(kind), alpha)
    z = _grid(12.0, 0.01)
    expected = np_eq22(SCIPY_CDFS[kind], z, alpha)
    got = density.prob(tf.constant(z)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-12)
    log_got = density.log_prob(tf.constant(z)).numpy()
    np.testing.assert_allclose(log_got, np.log(expected), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_prob_is_eq_22_for_deep_factorized(alpha):
    base = make_base("deep_factorized")
    density = distributions.SoftRoundAdaptedDensity(base, alpha)
    z = tf.constant(_grid(30.0, 0.01)[:, None])
    a = tf.constant(alpha, tf.float64)
    expected = (base.cdf(tfc.soft_round_inverse(z + 0.5, a))
                - base.cdf(tfc.soft_round_inverse(z - 0.5, a)))
    np.testing.assert_allclose(density.prob(z).numpy(), expected.numpy(), rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(density.log_prob(z).numpy(), np.log(expected.numpy()),
                               rtol=1e-6, atol=1e-9)


def test_density_adapts_to_a_variable_alpha():
    alpha = tf.Variable(2.0, dtype=tf.float64, trainable=False)
    base = make_base("logistic")
    density = distributions.noisy_density(base, alpha)
    assert isinstance(density, distributions.SoftRoundAdaptedDensity)
    assert density.alpha is alpha
    z = tf.constant(_grid(6.0, 0.05))

    @tf.function
    def graph_prob(z):
        return density.prob(z)

    before, before_graph = density.prob(z).numpy(), graph_prob(z).numpy()
    np.testing.assert_allclose(before, np_eq22(SCIPY_CDFS["logistic"], z.numpy(), 2.0),
                               rtol=1e-7, atol=1e-12)
    alpha.assign(9.0)
    after, after_graph = density.prob(z).numpy(), graph_prob(z).numpy()
    fresh = distributions.SoftRoundAdaptedDensity(base, 9.0).prob(z).numpy()
    np.testing.assert_array_equal(after, fresh)
    np.testing.assert_allclose(after_graph, fresh, rtol=1e-12)
    np.testing.assert_allclose(after, np_eq22(SCIPY_CDFS["logistic"], z.numpy(), 9.0),
                               rtol=1e-7, atol=1e-12)
    assert np.abs(after - before).max() > 1e-3  # The peak density is ~0.12.
    assert np.abs(after_graph - before_graph).max() > 1e-3


def test_float_alpha_is_stored_as_a_tensor_of_the_base_dtype():
    density = distributions.SoftRoundAdaptedDensity(make_base("normal"), 3.0)
    assert density.alpha.dtype == tf.float64
    assert float(density.alpha) == 3.0


@pytest.mark.parametrize("kind", ["logistic", "normal", "deep_factorized"])
def test_noisy_density_without_alpha_is_the_uniform_convolution(kind):
    base = make_base(kind)
    density = distributions.noisy_density(base)
    assert not isinstance(density, distributions.SoftRoundAdaptedDensity)
    z = _grid(15.0, 0.01)
    zz = tf.constant(z[:, None] if kind == "deep_factorized" else z)
    expected = (base.cdf(zz + 0.5) - base.cdf(zz - 0.5)).numpy()
    np.testing.assert_allclose(density.prob(zz).numpy(), expected, rtol=1e-8, atol=1e-14)
    if kind in SCIPY_CDFS:
        np.testing.assert_allclose(density.prob(zz).numpy(),
                                   np_eq22(SCIPY_CDFS[kind], z, None), rtol=1e-7, atol=1e-12)
    # With alpha = 0 soft rounding is the identity, so the adapted density is the same.
    adapted = distributions.noisy_density(base, 0.0)
    np.testing.assert_allclose(adapted.prob(zz).numpy(), density.prob(zz).numpy(),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("alpha", [1.0, 4.0, 10.0])
def test_histogram_of_soft_rounded_noisy_samples(alpha):
    """s_alpha(Y) + U with Y from the base has the adapted density (loose test)."""
    rng = np.random.default_rng(int(alpha))
    num_samples = 200_000
    y = rng.normal(LOC, SCALE, num_samples)
    z = np_soft_round(y, alpha) + rng.uniform(-0.5, 0.5, num_samples)
    density = distributions.SoftRoundAdaptedDensity(make_base("normal"), alpha)

    edges = np.arange(-8.0, 8.0 + 1e-9, 0.25)
    counts, _ = np.histogram(z, bins=edges)
    # Bin probabilities by integrating the density on a fine grid within each bin.
    fine = _grid(8.0, 1e-3)
    p = density.prob(tf.constant(fine)).numpy()
    cumulative = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(fine))])
    bin_probs = np.diff(np.interp(edges, fine, cumulative))
    expected = num_samples * bin_probs
    sigma = np.sqrt(num_samples * bin_probs * (1 - bin_probs))
    assert np.all(np.abs(counts - expected) <= 5 * sigma + 5), np.max(
        np.abs(counts - expected) / (sigma + 1))
    # Total variation between the histogram and the bin probabilities is small.
    assert 0.5 * np.abs(counts / num_samples - bin_probs).sum() < 0.02

    # The distribution's own sampler agrees as well.
    samples = density.sample(num_samples, seed=7).numpy()
    own_counts, _ = np.histogram(samples, bins=edges)
    assert 0.5 * np.abs(own_counts / num_samples - bin_probs).sum() < 0.02
