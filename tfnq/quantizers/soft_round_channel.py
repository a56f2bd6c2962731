"""The soft-rounding channel around a quantizer: Sec. 4.1 and Eqs. 22-24 of

> "Universally Quantized Neural Compression"<br />
> E. Agustsson, L. Theis, NeurIPS 2020 (arXiv:2006.09952)

A model trained with soft rounding sends `s_alpha(y)` through the noise channel (or,
at test time, the universal quantizer) and reconstructs with the conditional mean
`r_alpha` (Eq. 14; with expected gradients, Eq. 20); the density of what is sent is
adapted to the channel (Eq. 22). Without soft rounding the channel is the identity
and the density is `p_Y * U`. Every tfnq model sends its latents through one of
these; it is written once, here.
"""

import tensorflow as tf

from tfnq import distributions, ops

__all__ = ["SoftRoundChannel"]


class SoftRoundChannel:
    """`s_alpha` before the quantizer, `r_alpha` after it, and the adapted density.

    The channel holds no variables of its own: `alpha` is the model's (annealed by the
    trainer, shared with every density the channel adapts).
    """

    def __init__(self, alpha, enabled, expected_grads=False):
        """Initializer.

        Args:
          alpha: The sharpness, a scalar `tf.Variable` the model owns.
          enabled: Soft-round (UN+UQ+SR), or pass values through unchanged.
          expected_grads: Expected gradients for `r_alpha` (Eq. 20).
        """
        self.alpha = alpha
        self.enabled = bool(enabled)
        self.expected_grads = bool(expected_grads)

    def encode(self, values):
        """`s_alpha(values)` (Eq. 10), or `values`."""
        if not self.enabled:
            return values
        return ops.soft_round(values, tf.cast(self.alpha, values.dtype))

    def reconstruct(self, clean, noisy):
        """`r_alpha(noisy)`, `noisy` the channel's output for `clean` (Eqs. 14, 20)."""
        if not self.enabled:
            return noisy
        return ops.noisy_soft_round_reconstruction(
            clean, noisy, self.alpha, expected_grads=self.expected_grads)

    def decode(self, values):
        """Decoder side: `r_alpha` of decoded values."""
        return self.reconstruct(values, values)

    def density(self, base):
        """The density of the channel's output for `Y ~ base` (Eq. 22, or `base * U`)."""
        return distributions.noisy_density(base, self.alpha if self.enabled else None)

    def get_config(self):
        return dict(soft_round=self.enabled, expected_grads=self.expected_grads)
