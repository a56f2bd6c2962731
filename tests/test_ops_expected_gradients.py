"""Tests for tfnq.ops.expected_gradients: expected derivatives through uniform noise.

Eq. 17 of Agustsson & Theis (NeurIPS 2020): for U ~ U(-1/2, 1/2),
d/dy E[h(y + U)] = E[h'(y + U)] = h(y + 1/2) - h(y - 1/2). The forward pass of
`apply_with_noise` evaluates h(y + u); with `expected_grads=True` its derivative with
respect to `y` is replaced by that finite difference (Eq. 20), while gradients with
respect to the other arguments of `h` stay pathwise.
"""

import numpy as np
import pytest
import scipy.integrate
import tensorflow as tf

from tfnq.ops import expected_gradients

SCALE = 0.7


def neg_log_logistic(z, scale):
    """-log p(z) for a logistic density with location 0 and the given scale."""
    t = z / scale
    return t + 2.0 * tf.math.softplus(-t) + tf.math.log(scale)


def np_neg_log_logistic_derivative(z, scale=SCALE):
    """d/dz of `neg_log_logistic`: tanh(z / (2 scale)) / scale."""
    return np.tanh(z / (2 * scale)) / scale


def np_neg_log_logistic_scale_derivative(z, scale=SCALE):
    """d/d scale of `neg_log_logistic`: 1/scale - z tanh(z / (2 scale)) / scale^2."""
    return 1 / scale - z * np.tanh(z / (2 * scale)) / scale**2


def tanh_fn(z):
    return tf.tanh(z)


def np_tanh_derivative(z):
    return 1.0 - np.tanh(z) ** 2


# (fn taking (z, *args), extra args, numpy derivative of fn in z)
FUNCTIONS = {
    "tanh": (tanh_fn, (), np_tanh_derivative),
    "neg_log_logistic": (neg_log_logistic, (SCALE,), np_neg_log_logistic_derivative),
}

Y_VALUES = np.array([-2.3, -0.9, -0.2, 0.0, 0.35, 1.1, 2.6])


def _noise(shape, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, shape)


def _value_and_grad(fn, y, u, args, expected_grads):
    args = [tf.constant(a, y.dtype) for a in args]
    with tf.GradientTape() as tape:
        tape.watch(y)
        out = expected_gradients.apply_with_noise(
            fn, y, y + u, *args, expected_grads=expected_grads)
    return out, tape.gradient(out, y)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_forward_value_and_expected_gradient(name, dtype):
    fn, args, _ = FUNCTIONS[name]
    y = tf.constant(Y_VALUES, dtype)
    u = tf.constant(_noise(Y_VALUES.shape), dtype)
    out, grad = _value_and_grad(fn, y, u, args, expected_grads=True)
    extra = [tf.constant(a, dtype) for a in args]
    np.testing.assert_array_equal(out.numpy(), fn(y + u, *extra).numpy())
    finite_difference = fn(y + 0.5, *extra) - fn(y - 0.5, *extra)
    np.testing.assert_allclose(grad.numpy(), finite_difference.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        expected_gradients.expected_derivative(fn, y, *extra).numpy(),
        finite_difference.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_pathwise_gradient_without_expected_grads(name):
    fn, args, derivative = FUNCTIONS[name]
    y = tf.constant(Y_VALUES, tf.float64)
    u = tf.constant(_noise(Y_VALUES.shape), tf.float64)
    out, grad = _value_and_grad(fn, y, u, args, expected_grads=False)
    extra = [tf.constant(a, tf.float64) for a in args]
    np.testing.assert_array_equal(out.numpy(), fn(y + u, *extra).numpy())
    np.testing.assert_allclose(grad.numpy(), derivative((y + u).numpy()), rtol=1e-10)
    # The two estimators differ for these nonlinear functions.
    _, expected = _value_and_grad(fn, y, u, args, expected_grads=True)
    assert np.abs(grad.numpy() - expected.numpy()).max() > 1e-2


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_expected_derivative_is_the_mean_derivative(name):
    """Eq. 17 against quadrature and a Monte Carlo estimate of E[h'(y + U)]."""
    fn, args, derivative = FUNCTIONS[name]
    y = tf.constant(Y_VALUES, tf.float64)
    extra = [tf.constant(a, tf.float64) for a in args]
    got = expected_gradients.expected_derivative(fn, y, *extra).numpy()

    # E[h'(y + U)] = integral of h' over [y - 1/2, y + 1/2] (unit-width interval).
    quad = [scipy.integrate.quad(derivative, y0 - 0.5, y0 + 0.5, epsabs=1e-13)[0]
            for y0 in Y_VALUES]
    np.testing.assert_allclose(got, quad, rtol=1e-9, atol=1e-12)

    # Monte Carlo: pathwise derivatives h'(y + u) from autodiff, averaged over u.
    num_samples = 200_000
    u = tf.constant(_noise((num_samples, 1), seed=1), tf.float64)
    z = y[None, :] + u
    with tf.GradientTape() as tape:
        tape.watch(z)
        h = fn(z, *extra)
    samples = tape.gradient(h, z).numpy()
    mean = samples.mean(axis=0)
    stderr = samples.std(axis=0) / np.sqrt(num_samples)
    assert np.all(np.abs(mean - got) < 5 * stderr + 1e-6), (mean, got, stderr)
    # A loose absolute bound as well, in case the standard errors are tiny.
    np.testing.assert_allclose(mean, got, rtol=0, atol=5e-3)


def test_gradient_of_extra_argument_is_pathwise():
    y = tf.constant(Y_VALUES, tf.float64)
    u = tf.constant(_noise(Y_VALUES.shape, seed=2), tf.float64)
    scale = tf.Variable(SCALE, dtype=tf.float64)
    for expected_grads in (True, False):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(y)
            out = expected_gradients.apply_with_noise(
                neg_log_logistic, y, y + u, scale, expected_grads=expected_grads)
            loss = tf.reduce_sum(out)
            reference = tf.reduce_sum(neg_log_logistic(y + u, scale))
        grad_scale = tape.gradient(loss, scale).numpy()
        np.testing.assert_allclose(grad_scale, tape.gradient(reference, scale).numpy(),
                                   rtol=1e-12)
        np.testing.assert_allclose(
            grad_scale, np_neg_log_logistic_scale_derivative((y + u).numpy()).sum(), rtol=1e-10)
        grad_y = tape.gradient(loss, y).numpy()
        if expected_grads:
            finite_difference = neg_log_logistic(y + 0.5, scale) - neg_log_logistic(
                y - 0.5, scale)
            np.testing.assert_allclose(grad_y, finite_difference.numpy(), rtol=1e-10)
        else:
            np.testing.assert_allclose(
                grad_y, np_neg_log_logistic_derivative((y + u).numpy()), rtol=1e-10)
        del tape


def test_gradient_of_captured_variable_is_pathwise():
    """Variables that `fn` closes over get their ordinary gradients too."""
    y = tf.constant(Y_VALUES, tf.float64)
    u = tf.constant(_noise(Y_VALUES.shape, seed=3), tf.float64)
    scale = tf.Variable(SCALE, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(y)
        out = expected_gradients.apply_with_noise(
            lambda z: neg_log_logistic(z, scale), y, y + u, expected_grads=True)
    grad_y, grad_scale = tape.gradient(out, [y, scale])
    np.testing.assert_allclose(
        grad_scale.numpy(), np_neg_log_logistic_scale_derivative((y + u).numpy()).sum(),
        rtol=1e-10)
    np.testing.assert_allclose(
        grad_y.numpy(),
        (neg_log_logistic(y + 0.5, scale) - neg_log_logistic(y - 0.5, scale)).numpy(),
        rtol=1e-10)


def test_expected_gradients_in_a_tf_function():
    @tf.function
    def run(y, u, scale):
        with tf.GradientTape() as tape:
            tape.watch([y, scale])
            out = expected_gradients.apply_with_noise(
                neg_log_logistic, y, y + u, scale, expected_grads=True)
        return out, tape.gradient(out, [y, scale])

    y = tf.constant(Y_VALUES, tf.float64)
    u = tf.constant(_noise(Y_VALUES.shape, seed=4), tf.float64)
    scale = tf.constant(SCALE, tf.float64)
    out, (grad_y, grad_scale) = run(y, u, scale)
    np.testing.assert_allclose(out.numpy(), neg_log_logistic(y + u, scale).numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        grad_y.numpy(),
        (neg_log_logistic(y + 0.5, scale) - neg_log_logistic(y - 0.5, scale)).numpy(),
        rtol=1e-10)
    np.testing.assert_allclose(
        grad_scale.numpy(), np_neg_log_logistic_scale_derivative((y + u).numpy()).sum(),
        rtol=1e-10)


def test_expected_gradient_of_a_step_function_is_straight_through():
    """Eq. 17 needs no derivative of h: for h = round it gives the constant 1."""
    rng = np.random.default_rng(5)
    y = tf.constant(rng.uniform(-4, 4, 100), tf.float32)
    u = tf.constant(rng.uniform(-0.5, 0.5, 100), tf.float32)
    out, grad = _value_and_grad(tf.round, y, u, (), expected_grads=True)
    np.testing.assert_array_equal(out.numpy(), tf.round(y + u).numpy())
    np.testing.assert_array_equal(grad.numpy(), np.ones(100, np.float32))
