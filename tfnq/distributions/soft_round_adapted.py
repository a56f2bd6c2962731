"""Densities of soft-rounded latents seen through the uniform noise channel.

Eq. 22 and Appendix E of

> "Universally Quantized Neural Compression"<br />
> E. Agustsson, L. Theis, NeurIPS 2020 (arXiv:2006.09952)

    p_{s(Y)+U}(z) = c_Y(s^{-1}(z + 0.5)) - c_Y(s^{-1}(z - 0.5))

where `c_Y` is the CDF of any base density. tensorflow-compression's
`NoisySoftRoundAdapter` computes exactly this (`UniformNoiseAdapter` over
`SoftRoundAdapter`); tfnq adds the contract that `alpha` may be a `tf.Variable`
that the training loop anneals, read at every evaluation, so the density adapts
automatically when `alpha` changes (App. E).
"""

import tensorflow as tf
import tensorflow_compression as tfc
from tensorflow_compression.python.distributions import round_adapters

__all__ = [
    "SoftRoundAdaptedDensity",
    "noisy_density",
]


class SoftRoundAdaptedDensity(round_adapters.NoisySoftRoundAdapter):
    """`p_{s_alpha(Y)+U}` for a base distribution of `Y` (Eq. 22).

    Example:
      >>> alpha = tf.Variable(1.0, trainable=False)
      >>> density = SoftRoundAdaptedDensity(tfc.DeepFactorized(batch_shape=[192]), alpha)
      >>> alpha.assign(16.0)  # `density` now models s_16(Y) + U.
    """

    def __init__(self, base, alpha, name="SoftRoundAdaptedDensity"):
        """Initializer.

        Args:
          base: A scalar `tfp.distributions.Distribution` for `Y` that implements
            `cdf` (and preferably `survival_function`), e.g. `tfc.DeepFactorized`.
          alpha: Float, tensor or `tf.Variable` with the soft-rounding sharpness.
        """
        if not isinstance(alpha, tf.Variable):
            alpha = tf.convert_to_tensor(alpha, dtype=base.dtype)
        self._alpha_value = alpha
        super().__init__(base=base, alpha=alpha, name=name)

    @property
    def alpha(self):
        """Soft-rounding sharpness (possibly a variable)."""
        return self._alpha_value


def noisy_density(base, alpha=None):
    """`p_{Y+U}` (`alpha=None`) or `p_{s_alpha(Y)+U}` for a base density of `Y`."""
    if alpha is None:
        return tfc.UniformNoiseAdapter(base)
    return SoftRoundAdaptedDensity(base, alpha)
