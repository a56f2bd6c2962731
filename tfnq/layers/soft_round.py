"""Keras layers for soft rounding (Sec. 4.1 of Agustsson & Theis, NeurIPS 2020)."""

import tensorflow as tf

from tfnq.ops import soft_rounding as soft_round_ops

__all__ = [
    "SoftRound",
    "SoftRoundInverse",
    "SoftRoundConditionalMean",
]


class _AlphaLayer(tf.keras.layers.Layer):
    """Base for layers with a soft-rounding sharpness `alpha`.

    `alpha` may be a float (the layer then owns a non-trainable variable) or an
    existing `tf.Variable` shared with other layers and densities, so that one
    assignment anneals all of them together.
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(alpha, tf.Variable):
            self.alpha = alpha
        else:
            self.alpha = tf.Variable(float(alpha), trainable=False, name="alpha")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(alpha=float(self.alpha.numpy()))
        return config


class SoftRound(_AlphaLayer):
    """`s_alpha(y)` (Eq. 10): identity as alpha -> 0, rounding as alpha -> inf."""

    def call(self, inputs):
        return soft_round_ops.soft_round(inputs, tf.cast(self.alpha, inputs.dtype))


class SoftRoundInverse(_AlphaLayer):
    """`s_alpha^{-1}(y)`."""

    def call(self, inputs):
        return soft_round_ops.soft_round_inverse(inputs, tf.cast(self.alpha, inputs.dtype))


class SoftRoundConditionalMean(_AlphaLayer):
    """`r_alpha(z) = E[Y | s_alpha(Y) + U = z]` (Eqs. 12, 14).

    Call as `layer(z)`, or `layer(z, clean=y, expected_grads=True)` where `z = y + u`
    to use the expected derivative w.r.t. `y` in the backward pass (Eq. 20).
    """

    def call(self, inputs, clean=None, expected_grads=False):
        alpha = tf.cast(self.alpha, inputs.dtype)
        if clean is None:
            return soft_round_ops.soft_round_conditional_mean(inputs, alpha)
        return soft_round_ops.noisy_soft_round_reconstruction(
            clean, inputs, alpha, expected_grads=expected_grads)
