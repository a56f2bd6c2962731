"""Tests for tfnq.ops.soft_rounding: soft rounding and its reconstruction.

The reference values come from a float64 numpy implementation of Eqs. 10 and 14 of
Agustsson & Theis, "Universally Quantized Neural Compression" (NeurIPS 2020),
written here independently of the package.

Float32 tolerances: `s_alpha` itself is well conditioned (|s'| <= alpha / 2 /
tanh(alpha / 2)), so its float32 values agree with float64 to a few ulps of |y|.
The inverse is badly conditioned near integers, where s_alpha is flat:
s'(k) = alpha / 2 * sech^2(alpha / 2) / tanh(alpha / 2), about 5e-3 for alpha = 8,
so a float32 round trip may be off by ulp(|y|) / s'(k); the round-trip tolerance
below is scaled by that factor.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfnq.ops import soft_rounding

ALPHAS = [0.5, 1.0, 4.0, 8.0]
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def np_soft_round(y, alpha):
    """Eq. 10 in float64: floor(y) + tanh(alpha r) / (2 tanh(alpha / 2)) + 1/2."""
    y = np.asarray(y, np.float64)
    r = y - np.floor(y) - 0.5
    return np.floor(y) + 0.5 * np.tanh(alpha * r) / np.tanh(alpha / 2) + 0.5


def np_soft_round_inverse(z, alpha):
    """The inverse of Eq. 10 in float64 (s_alpha maps [k, k+1) onto itself)."""
    z = np.asarray(z, np.float64)
    m = np.floor(z) + 0.5
    return m + np.arctanh(2 * np.tanh(alpha / 2) * (z - m)) / alpha


def np_conditional_mean(z, alpha):
    """Eq. 14 in float64: r_alpha(z) = s_alpha^{-1}(z - 0.5) + 0.5."""
    return np_soft_round_inverse(np.asarray(z, np.float64) - 0.5, alpha) + 0.5


def min_slope(alpha):
    """The smallest derivative of s_alpha, attained at the integers."""
    return alpha / 2 / np.tanh(alpha / 2) / np.cosh(alpha / 2) ** 2


def grid(lo=-4.0, hi=4.0, n=8001):
    return np.linspace(lo, hi, n)


def away_from_half_integers(values, margin):
    frac = values - np.floor(values)
    return values[np.abs(frac - 0.5) >= margin]


def away_from_integers(values, margin):
    return values[np.abs(values - np.round(values)) >= margin]


# --------------------------------------------------------------------------- s_alpha


@pytest.mark.parametrize("alpha", ALPHAS)
def test_soft_round_matches_float64_reference(alpha):
    y = grid()
    got32 = soft_rounding.soft_round(tf.constant(y, tf.float32), alpha).numpy()
    np.testing.assert_allclose(got32, np_soft_round(y, alpha), rtol=0,
                               atol=8 * FLOAT32_EPS * np.abs(y).max())
    got64 = soft_rounding.soft_round(tf.constant(y), tf.constant(alpha, tf.float64)).numpy()
    np.testing.assert_allclose(got64, np_soft_round(y, alpha), rtol=0, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 1e-4])
def test_soft_round_is_exactly_identity_for_tiny_alpha(alpha):
    y = tf.constant(grid(), tf.float32)
    np.testing.assert_array_equal(soft_rounding.soft_round(y, alpha).numpy(), y.numpy())
    np.testing.assert_array_equal(soft_rounding.soft_round_inverse(y, alpha).numpy(), y.numpy())


def test_soft_round_tends_to_identity_as_alpha_goes_to_zero():
    y = grid()
    errors = [
        np.abs(soft_rounding.soft_round(tf.constant(y), tf.constant(a, tf.float64)).numpy() - y)
        .max() for a in (1.0, 0.1, 0.01)]
    assert errors[0] > errors[1] > errors[2]
    # s_alpha(y) - y = O(alpha^2): |error| <= alpha^2 / 24 on [-1/2, 1/2] offsets.
    assert errors[2] < 0.01**2 / 24 + 1e-12


def test_soft_round_tends_to_rounding_as_alpha_grows():
    # At distance d from a half-integer, |s_alpha(y) - round(y)| ~ exp(-2 alpha d).
    y = away_from_half_integers(grid(), margin=0.1)
    got = soft_rounding.soft_round(tf.constant(y, tf.float32), 50.0).numpy()
    np.testing.assert_allclose(got, np.round(y), rtol=0, atol=1e-4)
    errors = [np.abs(soft_rounding.soft_round(tf.constant(y), tf.constant(a, tf.float64))
                     .numpy() - np.round(y)).max() for a in (4.0, 16.0, 50.0)]
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("alpha", ALPHAS)
def test_soft_round_is_periodic_plus_one(alpha):
    y = grid(-3.0, 3.0)
    s = soft_rounding.soft_round(tf.constant(y, tf.float32), alpha).numpy()
    s1 = soft_rounding.soft_round(tf.constant(y + 1.0, tf.float32), alpha).numpy()
    np.testing.assert_allclose(s1, s + 1.0, rtol=0, atol=1e-5)


@pytest.mark.parametrize("alpha", ALPHAS + [16.0])
def test_soft_round_is_monotone_increasing(alpha):
    y = grid(-3.0, 3.0, 60001)
    s64 = soft_rounding.soft_round(tf.constant(y), tf.constant(alpha, tf.float64)).numpy()
    assert np.all(np.diff(s64) > 0)
    # In float32, s_alpha is flat to within an ulp near the integers for large alpha
    # (tanh saturates), so consecutive values may jitter by an ulp there, no more.
    s32 = soft_rounding.soft_round(tf.constant(y, tf.float32), alpha).numpy()
    ulp = np.spacing((np.abs(s32[1:]) + 1).astype(np.float32))  # Of m = floor(y) + 1/2.
    assert np.all(np.diff(s32) >= -2 * ulp)
    if alpha <= 8.0:
        assert np.all(np.diff(s32) >= 0)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_soft_round_is_differentiable_at_the_integers(alpha):
    # App. D: both one-sided derivatives at 0 equal alpha/2 * tanh'(-alpha/2) / tanh(alpha/2).
    y = tf.constant([-1.0, 0.0, 1.0, 2.0], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(y)
        s = soft_rounding.soft_round(y, tf.constant(alpha, tf.float64))
    grad = tape.gradient(s, y).numpy()
    np.testing.assert_allclose(grad, min_slope(alpha), rtol=1e-10)
    h = 1e-7
    for y0 in (-1.0, 0.0, 1.0):
        right = (np_soft_round(y0 + h, alpha) - np_soft_round(y0, alpha)) / h
        left = (np_soft_round(y0, alpha) - np_soft_round(y0 - h, alpha)) / h
        np.testing.assert_allclose([left, right], min_slope(alpha), rtol=1e-5)


# ------------------------------------------------------------------- s_alpha^{-1}


@pytest.mark.parametrize("alpha", ALPHAS)
def test_soft_round_inverse_inverts_soft_round(alpha):
    y = grid()
    # float64: essentially exact.
    a64 = tf.constant(alpha, tf.float64)
    back64 = soft_rounding.soft_round_inverse(soft_rounding.soft_round(tf.constant(y), a64), a64)
    np.testing.assert_allclose(back64.numpy(), y, rtol=0, atol=1e-9)
    # float32: limited by the conditioning of the inverse at the integers.
    y32 = tf.constant(y, tf.float32)
    back32 = soft_rounding.soft_round_inverse(soft_rounding.soft_round(y32, alpha), alpha)
    tolerance = 4 * FLOAT32_EPS * (1 + np.abs(y).max()) / min_slope(alpha)
    np.testing.assert_allclose(back32.numpy(), y, rtol=0, atol=tolerance)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_soft_round_inverse_matches_float64_reference(alpha):
    z = away_from_integers(grid(), margin=0.02)  # Where the inverse is well conditioned.
    got64 = soft_rounding.soft_round_inverse(tf.constant(z), tf.constant(alpha, tf.float64))
    np.testing.assert_allclose(got64.numpy(), np_soft_round_inverse(z, alpha), atol=1e-10)
    # And the reference is itself an inverse of the reference s_alpha.
    np.testing.assert_allclose(np_soft_round(np_soft_round_inverse(z, alpha), alpha), z,
                               atol=1e-10)
    got32 = soft_rounding.soft_round_inverse(tf.constant(z, tf.float32), alpha)
    np.testing.assert_allclose(got32.numpy(), np_soft_round_inverse(z, alpha), atol=1e-4)


# -------------------------------------------------------------------------- r_alpha


@pytest.mark.parametrize("alpha", ALPHAS)
def test_conditional_mean_is_eq_14(alpha):
    z = grid()
    z32 = tf.constant(z, tf.float32)
    got = soft_rounding.soft_round_conditional_mean(z32, alpha).numpy()
    via_inverse = soft_rounding.soft_round_inverse(z32 - 0.5, alpha).numpy() + 0.5
    np.testing.assert_allclose(got, via_inverse, rtol=0, atol=1e-6)
    # Against the float64 reference, away from the half-integers where r_alpha is steep.
    zz = away_from_half_integers(z, margin=0.02)
    got64 = soft_rounding.soft_round_conditional_mean(tf.constant(zz),
                                                      tf.constant(alpha, tf.float64))
    np.testing.assert_allclose(got64.numpy(), np_conditional_mean(zz, alpha), atol=1e-10)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_conditional_mean_is_periodic_plus_one(alpha):
    z = away_from_half_integers(grid(-3.0, 3.0), margin=0.02)
    r = soft_rounding.soft_round_conditional_mean(tf.constant(z, tf.float32), alpha).numpy()
    r1 = soft_rounding.soft_round_conditional_mean(tf.constant(z + 1, tf.float32), alpha).numpy()
    np.testing.assert_allclose(r1, r + 1.0, rtol=0, atol=1e-4)
    a64 = tf.constant(alpha, tf.float64)
    r64 = soft_rounding.soft_round_conditional_mean(tf.constant(z), a64).numpy()
    r164 = soft_rounding.soft_round_conditional_mean(tf.constant(z + 1), a64).numpy()
    np.testing.assert_allclose(r164, r64 + 1.0, rtol=0, atol=1e-10)


def test_reconstruction_tends_to_rounding_as_alpha_grows():
    """Eq. 15: r_alpha(s_alpha(y) + u) -> round(y) as alpha -> inf."""
    rng = np.random.default_rng(0)
    y = away_from_half_integers(rng.uniform(-4, 4, 4000), margin=0.1)
    # The limit is pointwise in u in (-1/2, 1/2): keep u away from the ends.
    u = rng.uniform(-0.4, 0.4, y.shape)
    errors = []
    for alpha in (4.0, 16.0, 64.0, 256.0):
        a = tf.constant(alpha, tf.float64)
        z = soft_rounding.soft_round(tf.constant(y), a) + u
        r = soft_rounding.soft_round_conditional_mean(z, a).numpy()
        errors.append(np.abs(r - np.round(y)).max())
        # The float64 reference agrees.
        np.testing.assert_allclose(r, np_conditional_mean(np_soft_round(y, alpha) + u, alpha),
                                   atol=1e-8)
    assert all(e1 > e2 for e1, e2 in zip(errors, errors[1:], strict=False))
    # The remaining error is ~ atanh(2 * 0.4) / alpha.
    assert errors[-1] < np.arctanh(0.8) / 256.0 + 1e-6
    z32 = soft_rounding.soft_round(tf.constant(y, tf.float32), 256.0) + u.astype(np.float32)
    r32 = soft_rounding.soft_round_conditional_mean(z32, 256.0).numpy()
    np.testing.assert_allclose(r32, np.round(y), rtol=0, atol=0.01)


# ------------------------------------------- noisy_soft_round_reconstruction (Eq. 20)


def _reconstruct_with_gradient(y, u, alpha, expected_grads, use_function=False):
    def run(y, u):
        with tf.GradientTape() as tape:
            tape.watch(y)
            y_noisy = y + u
            out = soft_rounding.noisy_soft_round_reconstruction(
                y, y_noisy, alpha, expected_grads=expected_grads)
        return out, tape.gradient(out, y)

    if use_function:
        run = tf.function(run)
    return run(y, u)


def _latents(dtype=tf.float32, n=256, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.uniform(-3, 3, n)
    u = rng.uniform(-0.5, 0.5, n)
    # r_alpha is very steep at the half-integers (its slope is 1 / min_slope(alpha)
    # there). Keep y + u and y +- 0.5 away from them, so that float32 rounding errors
    # are not amplified and the finite differences below are accurate.
    frac = (y + u) - np.floor(y + u)
    keep = (np.abs(frac - 0.5) > 0.05) & (np.abs(y - np.round(y)) > 0.05)
    return tf.constant(y[keep], dtype), tf.constant(u[keep], dtype)


@pytest.mark.parametrize("use_function", [False, True])
@pytest.mark.parametrize("alpha", ALPHAS + [16.0])
def test_expected_gradient_reconstruction(alpha, use_function):
    y, u = _latents()
    out, grad = _reconstruct_with_gradient(y, u, alpha, True, use_function)
    # Forward pass: r_alpha(y + u) (bit-exact eagerly; graph optimizations may change the
    # last bit).
    expected = soft_rounding.soft_round_conditional_mean(y + u, alpha)
    if use_function:
        np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=0, atol=1e-6)
    else:
        np.testing.assert_array_equal(out.numpy(), expected.numpy())
    # Backward pass: r_alpha(y + 0.5) - r_alpha(y - 0.5), which is identically one.
    finite_difference = (soft_rounding.soft_round_conditional_mean(y + 0.5, alpha)
                         - soft_rounding.soft_round_conditional_mean(y - 0.5, alpha))
    np.testing.assert_allclose(grad.numpy(), finite_difference.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(grad.numpy(), 1.0, rtol=0, atol=1e-5)


@pytest.mark.parametrize("alpha", ALPHAS + [16.0])
def test_pathwise_gradient_reconstruction(alpha):
    for dtype, rtol in ((tf.float64, 1e-6), (tf.float32, 1e-4)):
        y, u = _latents(dtype)
        out, grad = _reconstruct_with_gradient(y, u, alpha, False)
        z = (y + u).numpy().astype(np.float64)
        np.testing.assert_allclose(out.numpy(), np_conditional_mean(z, alpha),
                                   atol=1e-10 if dtype == tf.float64 else 1e-5)
        h = 1e-6
        central = (np_conditional_mean(z + h, alpha) - np_conditional_mean(z - h, alpha)) / 2 / h
        np.testing.assert_allclose(grad.numpy(), central, rtol=rtol)
        if alpha >= 4.0:
            # Pathwise derivatives are far from the expected derivative 1.
            assert np.abs(grad.numpy() - 1.0).max() > 0.4


def test_reconstruction_accepts_a_variable_alpha():
    alpha = tf.Variable(2.0, trainable=False)
    y, u = _latents()
    first = soft_rounding.noisy_soft_round_reconstruction(y, y + u, alpha, expected_grads=True)
    alpha.assign(8.0)
    second = soft_rounding.noisy_soft_round_reconstruction(y, y + u, alpha, expected_grads=True)
    np.testing.assert_array_equal(
        second.numpy(), soft_rounding.soft_round_conditional_mean(y + u, 8.0).numpy())
    assert not np.allclose(first.numpy(), second.numpy())
