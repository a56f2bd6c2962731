"""Expected gradients through an additive uniform noise channel.

Sec. 4.2 of

> "Universally Quantized Neural Compression"<br />
> E. Agustsson, L. Theis, NeurIPS 2020 (arXiv:2006.09952)

For `U ~ U(-0.5, 0.5)`, `d/dy E[h(y + U)] = h(y + 0.5) - h(y - 0.5)` (Eq. 17). The
forward pass evaluates `h(y + u)` for the sampled `u`; the backward pass uses the
expected derivative instead of `h'(y + u)` (Eq. 20). The engine is
`tfc.ops.perturb_and_apply`; this module only fixes the calling convention tfnq uses
(the perturbed value is passed in, so the rate and distortion terms share one noise
sample) and adds the plain finite-difference formula for tests and analysis.
"""

import tensorflow as tf
from tensorflow_compression.python.ops import math_ops as tfc_math_ops

__all__ = [
    "apply_with_noise",
    "expected_derivative",
]


def apply_with_noise(fn, y, y_noisy, *args, expected_grads=True):
    """Returns `fn(y_noisy, *args)`, optionally with expected gradients w.r.t. `y`.

    Args:
      fn: Pointwise callable `fn(z, *args)`.
      y: Tensor before noise.
      y_noisy: `y + u` for a noise sample `u` in [-0.5, 0.5) (or its universally
        quantized counterpart), with gradient flowing to `y` as the identity.
      *args: Further tensor arguments of `fn`; their gradients are the usual ones.
      expected_grads: If True, `d fn / d y` is replaced by
        `fn(y + 0.5) - fn(y - 0.5)` (Eq. 17 / Eq. 20).

    Returns:
      `fn(y_noisy, *args)`.
    """
    out, _ = tfc_math_ops.perturb_and_apply(
        fn, y, *args, x_plus_u=y_noisy, expected_grads=expected_grads)
    return out


def expected_derivative(fn, y, *args):
    """The expected derivative `E_U[fn'(y + U)] = fn(y + 0.5) - fn(y - 0.5)` (Eq. 17)."""
    y = tf.convert_to_tensor(y)
    return fn(y + 0.5, *args) - fn(y - 0.5, *args)
