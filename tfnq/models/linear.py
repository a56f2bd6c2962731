"""The linear 8x8 codec of Agustsson & Theis, "Universally Quantized Neural
Compression", NeurIPS 2020, Sec. 5.1.

    y = f(x)                 8x8 stride-8 convolution to 192 channels
    z = s_alpha(y) + u       the uniform noise channel, optionally soft-rounded
    x_hat = g(r_alpha(z))    the transposed convolution

with a non-parametric (deep factorized) density for `Y`, adapted to `s_alpha(Y) + U`
by Eq. 22. Training minimizes Eq. 21, `bits + lambda * MSE` (MSE in 0-255 units),
with optional expected gradients (Sec. 4.2). At test time the model runs as UN+Q
(rounding), UN+UQ (universal quantization) or UN+UQ+SR (soft-rounded model with
universal quantization).
"""

import tensorflow_compression as tfc

from tfnq import latent_codecs, layers, quantizers
from tfnq.models import base

__all__ = ["LinearCodec"]

_CENTER = 127.5


class LinearCodec(base.CompressionModel):
    """Linear block-transform codec with a factorized prior."""

    architecture = "linear"

    def __init__(self, block_size=8, init="orthogonal", paired_init=True, init_step=8.0,
                 soft_round=False, expected_grads=False, alpha=1.0, num_noise_levels=15,
                 seed=0, **kwargs):
        """Initializer.

        Args:
          block_size: Block size; the latent has `block_size**2 * 3` channels.
          init: "orthogonal" (Sec. 5.1) or "jpeg" (YCbCr + DCT, App. F).
          paired_init: Start the synthesis as the exact inverse of the analysis.
            The paper initializes both independently (`paired_init=False`); pairing
            makes short training runs converge much faster.
          init_step: Initial quantization step in pixel units.
          soft_round: Soft-round inside the noise channel (UN+UQ+SR).
          expected_grads: Expected gradients for the rate and for `r_alpha` (+E).
          alpha: Initial soft-rounding sharpness (annealed by the trainer).
          num_noise_levels: Quantization levels of the dither at test time.
          seed: Seed of the orthogonal initialization.
        """
        super().__init__(**kwargs)
        self.block_size = int(block_size)
        self.downsampling = self.block_size  # Image pixels per latent, per side.
        self.latent_stride = self.block_size
        self.init = init
        self.paired_init = bool(paired_init)
        self.init_step = float(init_step)
        self.soft_round = bool(soft_round)
        self.expected_grads = bool(expected_grads)
        self.num_noise_levels = int(num_noise_levels)
        self.seed = int(seed)
        self.num_channels = self.block_size * self.block_size * 3
        self.analysis = layers.BlockAnalysis(
            self.block_size, 3, init, seed=self.seed, step=init_step, name="analysis")
        self.synthesis = layers.BlockSynthesis(
            self.block_size, 3, init, seed=self.seed if paired_init else self.seed + 1,
            step=init_step, name="synthesis")
        self.soft_round_layer = layers.SoftRound(alpha, name="soft_round")
        self.alpha = self.soft_round_layer.alpha
        channel = quantizers.SoftRoundChannel(self.alpha, self.soft_round,
                                              expected_grads=self.expected_grads)
        self.base_prior = tfc.DeepFactorized(batch_shape=[self.num_channels])
        self.prior = channel.density(self.base_prior)
        self.analysis.build([None, None, None, 3])
        self.synthesis.build([None, None, None, self.num_channels])
        self.soft_round_layer.build([None, None, None, self.num_channels])
        self.latent_codec = latent_codecs.FactorizedLatentCodec(
            self.prior, self.base_prior, channel, num_noise_levels=self.num_noise_levels,
            expected_grads=self.expected_grads)
        self.built = True

    def get_config(self):
        return dict(
            block_size=self.block_size, init=self.init, paired_init=self.paired_init,
            init_step=self.init_step, soft_round=self.soft_round,
            expected_grads=self.expected_grads, alpha=float(self.alpha.numpy()),
            num_noise_levels=self.num_noise_levels, seed=self.seed)

    @property
    def transform_variables(self):
        """Variables of the analysis and synthesis transforms."""
        return self.analysis.trainable_variables + self.synthesis.trainable_variables

    @property
    def density_variables(self):
        """Variables of the density model."""
        return list(self.base_prior.trainable_variables)

    def analyze(self, x):
        return self.analysis(x - _CENTER)

    def synthesize(self, latents):
        return self.synthesis(latents) + _CENTER
