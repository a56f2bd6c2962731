"""Tests for tfnq.ops.rdft: the inverse RDFT of a kernel as one matrix product."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from tfnq import ops

SHAPES = [(5, 5, 3, 8), (3, 3, 6, 4), (4, 4, 2, 3), (5, 4, 2, 2), (1, 1, 4, 4), (2, 3, 1, 1)]


def _random_parameter(shape, seed):
    """A `tfc.RDFTParameter` with arbitrary (not Hermitian-consistent) coefficients."""
    parameter = tfc.RDFTParameter(tf.zeros(shape))
    rng = np.random.default_rng(seed)
    parameter.real.assign(rng.normal(size=parameter.real.shape).astype(np.float32))
    parameter.imag.assign(rng.normal(size=parameter.imag.shape).astype(np.float32))
    return parameter


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_kernel_is_tfcs_irfft2d(shape):
    """Same kernel as `RDFTParameter.__call__`, imaginary parts of DC/Nyquist ignored."""
    parameter = _random_parameter(shape, seed=sum(shape))
    expected = parameter().numpy()
    kernel = ops.irdft_kernel(parameter.real, parameter.imag, parameter.shape).numpy()
    assert kernel.shape == shape and kernel.dtype == np.float32
    np.testing.assert_allclose(kernel, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("shape", SHAPES[:3], ids=str)
def test_gradients_are_tfcs(shape):
    parameter = _random_parameter(shape, seed=1)
    weights = tf.random.stateless_normal(shape, seed=(2, 3))
    grads = []
    for kernel_fn in (parameter, lambda: ops.irdft_kernel(
            parameter.real, parameter.imag, parameter.shape)):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(kernel_fn() * weights)
        grads.append(tape.gradient(loss, [parameter.real, parameter.imag]))
    for expected, got in zip(grads[0], grads[1], strict=True):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=0, atol=1e-4)


def test_a_kernel_round_trips_through_the_rdft():
    """`irdft_kernel` inverts tfc's forward transform (RDFTParameter's initializer)."""
    kernel = tf.random.stateless_normal((5, 5, 4, 6), seed=(4, 5))
    parameter = tfc.RDFTParameter(kernel)
    np.testing.assert_allclose(
        ops.irdft_kernel(parameter.real, parameter.imag, kernel.shape).numpy(),
        kernel.numpy(), atol=1e-5)


def test_matrix_is_orthonormal_on_kernels_and_cached():
    """Rows are `sqrt(kh kw) * irfft2d` of unit coefficients; real kernels round trip."""
    matrix = ops.irdft_matrix((5, 5))
    assert matrix.shape == (2 * 5 * 3, 25)
    assert ops.irdft_matrix((5, 5)) is matrix
    with pytest.raises(ValueError):
        matrix[0, 0] = 1.0  # Shared and cached: read-only.
    # The DC coefficient gives a constant kernel of norm 1.
    np.testing.assert_allclose(matrix[0], np.full(25, 1 / 5))
    # Imaginary parts of the DC bin do not reach the kernel (irfft2d ignores them).
    np.testing.assert_allclose(matrix[15], 0, atol=1e-12)
