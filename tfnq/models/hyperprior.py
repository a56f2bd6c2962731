"""The mean-scale hyperprior codec of Agustsson & Theis, NeurIPS 2020, Sec. 5.1.

The (non-autoregressive) "Mean & Scale Hyperprior" of Minnen et al. (NeurIPS 2018)
with universal quantization and, optionally, soft rounding centred on the predicted
mean (Eq. 24):

    y = f(x),  v = h(y)
    w = r_alpha(s_alpha(v) + u_1)                       hyper-latents, factorized density
    mu, i = hyper_synthesis(w)                          mean and scale index per latent
    z = s_alpha(y - mu) + u_2                           coded given N(0, sigma_i), Eq. 23
    x_hat = g(r_alpha(z) + mu)

Without soft rounding `s` and `r` are the identity and `z + mu = y + u_2`. The
density of `z` is the Gaussian of Eq. 23 adapted to the channel: `N(0, sigma) * U`
(`tfc.NoisyNormal`), or with soft rounding `p_{s_alpha(R)+U}` for `R ~ N(0, sigma)`
(Eq. 22). The hyper-latents use a deep factorized density, adapted the same way.
Scales are indexed on a log grid (`num_scales` values from `scale_min` to
`scale_max`); coding tables exist for every scale and noise level.

Training minimizes `bits + lambda * MSE` (MSE in 0-255 units) with uniform noise;
at test time the model runs as UN+Q (rounding `y - mu` and `v`), UN+UQ (universal
quantization) or UN+UQ+SR (trained with soft rounding; universal quantization).
The model is the analysis and synthesis transforms around a
`tfnq.latent_codecs.MeanScaleHyperpriorLatentCodec`, which drives the hyper
transforms and densities the model owns.
"""

import tensorflow_compression as tfc

from tfnq import latent_codecs, layers, quantizers
from tfnq.models import base

__all__ = ["MeanScaleHyperprior"]


class MeanScaleHyperprior(base.CompressionModel):
    """Mean-scale hyperprior with universal quantization and soft rounding."""

    architecture = "hyperprior"
    downsampling = 64  # Images are padded to a multiple of 64 (one hyper-latent).
    latent_stride = 16  # Image pixels per latent, per side.
    # Version of the exported arithmetic (part of the fingerprint, `tfnq.export`):
    # 2 since the RDFT kernels are computed by one matrix product
    # (`tfnq.layers.SignalConv2D`) instead of tfc's `irfft2d`, which agree only to
    # float rounding; 3 since coding computes the means and table indexes with the
    # integer hyper-synthesis (`tfnq.layers.IntegerTransform`), the same bits on any
    # device and TensorFlow build.
    numerics = 3
    bfloat16_synthesis = True

    def __init__(self, num_filters=128, num_latents=192, soft_round=False,
                 expected_grads=False, alpha=1.0, num_noise_levels=15, num_scales=64,
                 scale_min=0.11, scale_max=256.0, **kwargs):
        """Initializer.

        Args:
          num_filters: Channels `N` of the hidden layers and the hyper-latents.
          num_latents: Channels `M` of the latents.
          soft_round: Soft-round inside the noise channels (UN+UQ+SR, Eq. 24).
          expected_grads: Expected gradients for the rates and for `r_alpha` (+E).
          alpha: Initial soft-rounding sharpness (annealed by the trainer).
          num_noise_levels: Quantization levels of the dither at test time.
          num_scales: Number of scales in the coding tables of the latents.
          scale_min: Smallest scale.
          scale_max: Largest scale.
        """
        super().__init__(**kwargs)
        self.num_filters = int(num_filters)
        self.num_latents = int(num_latents)
        self.soft_round = bool(soft_round)
        self.expected_grads = bool(expected_grads)
        self.num_noise_levels = int(num_noise_levels)
        self.num_scales = int(num_scales)
        self.scale_min = float(scale_min)
        self.scale_max = float(scale_max)
        n, m = self.num_filters, self.num_latents
        self.analysis = layers.AnalysisTransform(n, m)
        self.synthesis = layers.SynthesisTransform(n, m)
        self.hyper_analysis = layers.HyperAnalysisTransform(n, m)
        self.hyper_synthesis = layers.HyperSynthesisTransform(n, m)
        self.soft_round_layer = layers.SoftRound(alpha, name="soft_round")
        self.alpha = self.soft_round_layer.alpha
        channel = quantizers.SoftRoundChannel(self.alpha, self.soft_round,
                                              expected_grads=self.expected_grads)
        self.hyper_base_prior = tfc.DeepFactorized(batch_shape=[n])
        self.hyper_prior = channel.density(self.hyper_base_prior)
        self.analysis.build([None, None, None, 3])
        self.synthesis.build([None, None, None, m])
        self.hyper_analysis.build([None, None, None, m])
        self.hyper_synthesis.build([None, None, None, n])
        self.soft_round_layer.build([None, None, None, m])
        self.latent_codec = latent_codecs.MeanScaleHyperpriorLatentCodec(
            self.hyper_analysis, self.hyper_synthesis, self._hyper_density, channel,
            gains_fn=self._gains, hyper_stride=self.downsampling // self.latent_stride,
            num_scales=self.num_scales, scale_min=self.scale_min, scale_max=self.scale_max,
            num_noise_levels=self.num_noise_levels, expected_grads=self.expected_grads)
        # The decoder's form of the synthesis: the same layers, no variables of its own
        # (not tracked: checkpoints keep their layout).
        self._coding_synthesis = layers.SubpixelTransform(self.synthesis.layers)
        self.coding_rate = None
        self.built = True

    def get_config(self):
        return dict(
            num_filters=self.num_filters, num_latents=self.num_latents,
            soft_round=self.soft_round, expected_grads=self.expected_grads,
            alpha=float(self.alpha.numpy()), num_noise_levels=self.num_noise_levels,
            num_scales=self.num_scales, scale_min=self.scale_min, scale_max=self.scale_max)

    @property
    def transform_variables(self):
        """Variables of the analysis, synthesis and hyper transforms."""
        return (self.analysis.trainable_variables + self.synthesis.trainable_variables
                + self.hyper_analysis.trainable_variables
                + self.hyper_synthesis.trainable_variables)

    @property
    def density_variables(self):
        """Variables of the hyper-latents' density."""
        return list(self.hyper_base_prior.trainable_variables)

    # -- Rates ------------------------------------------------------------------------
    # A fixed-rate model has one rate; `VariableRateHyperprior` overrides these two.

    def _hyper_density(self, rate):
        """Density of the (noisy) hyper-latents at `rate`."""
        del rate
        return self.hyper_prior

    def _gains(self, rate):
        """Per-channel gains at `rate`, or None (all one: nothing is computed)."""
        del rate
        return None

    def analyze(self, x):
        return self.analysis(x / 255.0)

    def synthesize(self, latents):
        return 255.0 * self.synthesis(latents)

    def coding_synthesize(self, latents, bfloat16=False):
        """The synthesis as sub-pixel convolutions (`tfnq.layers.SubpixelTransform`):
        the same map as `synthesize` up to float rounding (at most one level of a
        decoded pixel, rarely), faster on every backend measured, and in bfloat16 (the
        last layer in float32) where `bfloat16` says so: -0.0005 dB on valid
        (docs/decode_speed.md)."""
        return 255.0 * self._coding_synthesis(latents, bfloat16)
