"""The inverse real DFT of a convolution kernel as one matrix product.

tensorflow-compression's `SignalConv2D` parameterizes kernels by their real-input
DFT (`tfc.RDFTParameter`, after Ballé et al., "Efficient Nonlinear Transforms for
Lossy Image Compression", PCS 2018, Sec. 2) and computes each kernel with
`tf.signal.irfft2d` every time the layer is called: one tiny 2-D transform per
(input, output) channel pair. On CPUs that is far slower than the convolution it
feeds (measured here: 22 ms for one 5x5x64x64 kernel, 136 ms for the 14 kernels of
an N=64, M=96 hyperprior, more than half of its compress time).

The inverse RDFT is linear, so for a `kh x kw` support it is a fixed
`[2 * kh * (kw // 2 + 1), kh * kw]` matrix applied to the real and imaginary
coefficients: `irdft_kernel` computes the same kernel as `RDFTParameter.__call__`
(including how `irfft2d` ignores the imaginary parts of self-conjugate bins) with
one `MatMul` (0.9 ms for the 5x5x64x64 kernel), and its gradient is that matrix's
transpose. The two agree to float32 rounding (a few 1e-7 relative), not bit for bit.
"""

import functools

import numpy as np
import tensorflow as tf

__all__ = ["irdft_kernel", "irdft_matrix"]


@functools.cache
def irdft_matrix(support):
    """Matrix taking RDFT coefficients `(real, imag)` to kernel taps (float64 numpy).

    Args:
      support: Spatial kernel shape `(kh, kw)`.

    Returns:
      `[2 * kh * (kw // 2 + 1), kh * kw]` array: row `j` of the first half is the
      kernel (flattened row-major) of a unit real coefficient `j`, of the second half
      that of a unit imaginary coefficient, scaled like `tfc.RDFTParameter`
      (orthonormal: `sqrt(kh * kw) * irfft2d`).
    """
    kh, kw = (int(s) for s in support)
    num_coefficients = kh * (kw // 2 + 1)
    units = np.eye(num_coefficients).reshape(num_coefficients, kh, kw // 2 + 1)
    taps = [np.fft.irfft2(units * part, s=(kh, kw)).reshape(num_coefficients, kh * kw)
            for part in (1, 1j)]
    matrix = np.concatenate(taps, axis=0) * np.sqrt(kh * kw)
    matrix.setflags(write=False)
    return matrix


def irdft_kernel(real, imag, shape):
    """The 2-D convolution kernel of `tfc.RDFTParameter` coefficients.

    Args:
      real: Real parts, `[cin, cout, kh, kw // 2 + 1]` (`RDFTParameter.real`).
      imag: Imaginary parts, same shape (`RDFTParameter.imag`).
      shape: Kernel shape `(kh, kw, cin, cout)`.

    Returns:
      The kernel, `[kh, kw, cin, cout]`, in the dtype of `real`.
    """
    kh, kw, cin, cout = (int(s) for s in shape)
    real = tf.convert_to_tensor(real)
    coefficients = tf.concat(
        [tf.reshape(real, [cin * cout, -1]), tf.reshape(imag, [cin * cout, -1])], axis=1)
    taps = tf.matmul(coefficients, tf.constant(irdft_matrix((kh, kw)), real.dtype))
    return tf.transpose(tf.reshape(taps, [cin, cout, kh, kw]), (2, 3, 0, 1))
