"""Soft rounding and its conditional-mean reconstruction.

Implements Sec. 4.1 of

> "Universally Quantized Neural Compression"<br />
> E. Agustsson, L. Theis, NeurIPS 2020 (arXiv:2006.09952)

The three functions are tensorflow-compression's (`tfc.soft_round`,
`tfc.soft_round_inverse`, `tfc.soft_round_conditional_mean`); tfnq re-exports them
so that models depend on one place, and adds the expected-gradient variant of the
reconstruction `r_alpha` used on the distortion path (Eq. 20).
"""

import tensorflow as tf
import tensorflow_compression as tfc

from tfnq.ops import expected_gradients

__all__ = [
    "soft_round",
    "soft_round_inverse",
    "soft_round_conditional_mean",
    "noisy_soft_round_reconstruction",
]

# s_alpha(y), Eq. 10. alpha -> 0 gives the identity, alpha -> inf gives rounding (Eq. 11).
soft_round = tfc.soft_round
# s_alpha^{-1}(y), used by the adapted density of Eq. 22.
soft_round_inverse = tfc.soft_round_inverse
# r_alpha(z) = s_alpha^{-1}(z - 0.5) + 0.5, the conditional mean of Eq. 14.
soft_round_conditional_mean = tfc.soft_round_conditional_mean


def noisy_soft_round_reconstruction(y, y_noisy, alpha, expected_grads=False):
    """Reconstruction `r_alpha(y + u)` of a soft-rounded latent sent over the noise channel.

    Computes `r_alpha(y_noisy)` with `y_noisy = y + u` (Eq. 12/14). With
    `expected_grads=True`, the derivative with respect to `y` is replaced by its
    expectation over `u`, `r_alpha(y + 0.5) - r_alpha(y - 0.5)` (Eq. 20), which for
    `r_alpha` equals one: the straight-through estimate noted at the end of Sec. 4.2.

    Args:
      y: Soft-rounded latents `s_alpha(f(x))` before noise.
      y_noisy: `y` plus uniform noise (training) or its universally quantized value.
      alpha: Soft-rounding sharpness (float or scalar tensor / variable).
      expected_grads: Whether to use the expected derivative in the backward pass.

    Returns:
      `r_alpha(y_noisy)`.
    """
    alpha = tf.convert_to_tensor(alpha, dtype=y.dtype)
    return expected_gradients.apply_with_noise(
        soft_round_conditional_mean, y, y_noisy, alpha, expected_grads=expected_grads)
