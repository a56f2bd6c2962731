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
"""

import math

import tensorflow as tf
import tensorflow_compression as tfc
import tensorflow_probability as tfp

from tfnq import distributions, entropy_models, layers, ops
from tfnq.models import modes as modes_lib
from tfnq.models import padding

__all__ = ["MeanScaleHyperprior"]


class MeanScaleHyperprior(tf.keras.Model):
    """Mean-scale hyperprior with universal quantization and soft rounding."""

    architecture = "hyperprior"
    num_sections = 2  # Hyper-latents, then latents.
    downsampling = 64  # Image pixels per hyper-latent, per side.
    # Version of the exported arithmetic (part of the fingerprint, `tfnq.export`):
    # 2 since the RDFT kernels are computed by one matrix product
    # (`tfnq.layers.SignalConv2D`) instead of tfc's `irfft2d`, which agree only to
    # float rounding.
    numerics = 2

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
        self.hyper_base_prior = tfc.DeepFactorized(batch_shape=[n])
        self.hyper_prior = distributions.noisy_density(
            self.hyper_base_prior, self.alpha if self.soft_round else None)
        self.analysis.build([None, None, None, 3])
        self.synthesis.build([None, None, None, m])
        self.hyper_analysis.build([None, None, None, m])
        self.hyper_synthesis.build([None, None, None, n])
        self.soft_round_layer.build([None, None, None, m])
        self._hyper_coding = None
        self._coding = None
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

    # -- The conditional density of Eq. 23 on a grid of scales ------------------------

    def _scale(self, index):
        """Scale of table index `index` (float, `[..., 1]`): a log-spaced grid."""
        return tf.math.exp(math.log(self.scale_min) + self._log_scale_step * index[..., 0])

    def _conditional_prior(self, scale):
        """Density of `s_alpha(R) + U` (or `R + U`) for `R ~ N(0, scale)`."""
        base = tfp.distributions.Normal(loc=tf.zeros_like(scale), scale=scale)
        return distributions.noisy_density(base, self.alpha if self.soft_round else None)

    def _entropy_models(self, dither, compression=False, coder=None, rate=None, tables=None):
        hyper_tables, tables = tables or (None, None)
        hyper = entropy_models.UniversalBatchedEntropyModel(
            self._hyper_density(rate), coding_rank=3, dither=dither, compression=compression,
            expected_grads=self.expected_grads, num_noise_levels=self.num_noise_levels,
            coder=coder, tables=hyper_tables)
        conditional = entropy_models.UniversalIndexedEntropyModel(
            self._conditional_prior, [self.num_scales], dict(scale=self._scale),
            coding_rank=3, dither=dither, compression=compression,
            expected_grads=self.expected_grads, num_noise_levels=self.num_noise_levels,
            coder=coder, tables=tables)
        return hyper, conditional

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

    # -- The channel ------------------------------------------------------------------

    def _soft_round(self, values):
        return self.soft_round_layer(values) if self.soft_round else values

    def _reconstruct(self, clean, noisy):
        """`r_alpha(noisy)` (identity without soft rounding), Eq. 20 gradients if +E."""
        if not self.soft_round:
            return noisy
        return ops.noisy_soft_round_reconstruction(
            clean, noisy, self.alpha, expected_grads=self.expected_grads)

    def _hyper_parameters(self, w, gains=None):
        """Mean and float table index of every latent, from the hyper-latents.

        With gains the latents are coded as `(y - mean) * g`, whose scale is `scale * g`:
        the index moves by `log(g)` over the log step of the scale grid.
        """
        if gains is not None:
            w = w * gains.hyper_inverse
        mean, index = tf.split(self.hyper_synthesis(w), 2, axis=-1)
        if gains is not None:
            index = index + gains.log_latent / self._log_scale_step
        return mean, index[..., None]

    @property
    def _log_scale_step(self):
        return (math.log(self.scale_max) - math.log(self.scale_min)) / (self.num_scales - 1)

    @staticmethod
    def _scaled(values, gain):
        return values if gain is None else values * gain

    def call(self, x, training=False, mode="UN+UQ", rate=None):
        """Rate and distortion of a batch.

        Args:
          x: float32 `[B, H, W, 3]` in 0-255, `H` and `W` multiples of 64.
          training: Uniform noise (True) or the test-time quantizer of `mode` (False).
          mode: Test-time mode used when `training=False`.
          rate: Index of the rate (variable-rate models only; a Python int).

        Returns:
          `(bpp, mse, x_hat)`: mean bits per pixel, mean squared error in 0-255
          units, and the reconstruction.
        """
        dither = True if training else modes_lib.get_mode(mode).dither
        hyper_model, conditional_model = self._entropy_models(dither, rate=rate)
        gains = self._gains(rate)
        y = self.analysis(x / 255.0)
        v = self._soft_round(self._scaled(self.hyper_analysis(y), gains and gains.hyper))
        w_tilde, hyper_bits = hyper_model(v, training=training)
        mean, index = self._hyper_parameters(self._reconstruct(v, w_tilde), gains)
        residual = self._soft_round(self._scaled(y - mean, gains and gains.latent))
        z, bits = conditional_model(residual, index, training=training)
        y_hat = self._scaled(self._reconstruct(residual, z), gains and gains.latent_inverse)
        x_hat = 255.0 * self.synthesis(y_hat + mean)
        num_pixels = tf.cast(tf.reduce_prod(tf.shape(x)[1:3]), bits.dtype)
        bpp = tf.reduce_mean(bits + hyper_bits) / num_pixels
        mse = tf.reduce_mean(tf.math.squared_difference(x, x_hat))
        return bpp, mse, x_hat

    # -- Real coding ------------------------------------------------------------------

    def prepare_coding(self, mode, coder=None, rate=None, tables=None):
        """Builds the coding tables for `mode` (eager; once, before export).

        Args:
          mode: Test-time mode.
          coder: Optional `tfnq.coders.Coder`.
          rate: The rate to code at (variable-rate models only).
          tables: Optional `CodingTables` of each section, stored before (a re-export
            keeps its tables), instead of building them.

        Returns:
          The entropy models that code the sections of a file, in order: the
          hyper-latents' and the latents'.
        """
        mode = modes_lib.get_mode(mode)
        if mode.soft_round != self.soft_round:
            raise ValueError(
                f"Mode {mode.name} needs a model trained "
                f"{'with' if mode.soft_round else 'without'} soft rounding.")
        self.coding_mode = mode
        self.coding_rate = rate
        self._hyper_coding, self._coding = self._entropy_models(
            mode.dither, compression=True, coder=coder, rate=rate, tables=tables)
        return [self._hyper_coding, self._coding]

    def latent_shape(self, height, width):
        """Spatial shape of the hyper-latents for an image of the given size."""
        d = self.downsampling
        return tf.stack([(height + d - 1) // d, (width + d - 1) // d])

    def _analyze(self, image):
        gains = self._gains(self.coding_rate)
        y = self.analysis(padding.pad_image(image, self.downsampling) / 255.0)
        return y, self._soft_round(self._scaled(self.hyper_analysis(y), gains and gains.hyper))

    def _parameters(self, w_tilde):
        """Decoder side: mean and index of every latent from the decoded hyper-latents."""
        return self._hyper_parameters(self._reconstruct(w_tilde, w_tilde),
                                      self._gains(self.coding_rate))

    def _residual(self, y, mean):
        gains = self._gains(self.coding_rate)
        return self._soft_round(self._scaled(y - mean, gains and gains.latent))

    def _synthesize(self, z, mean, height, width):
        gains = self._gains(self.coding_rate)
        y_hat = self._scaled(self._reconstruct(z, z), gains and gains.latent_inverse)
        x_hat = 255.0 * self.synthesis(y_hat + mean)
        return padding.crop_to_image(x_hat, height, width)

    def compress_image(self, image):
        """uint8 `[H, W, 3]` -> `[hyper-latent string, latent string]`."""
        y, v = self._analyze(image)
        hyper_string = self._hyper_coding.compress(v)[0]
        mean, index = self._parameters(self._hyper_coding.quantize(v))
        string = self._coding.compress(self._residual(y, mean), index)[0]
        return [hyper_string, string]

    def decompress_image(self, sections, height, width):
        """Sections from `compress_image` -> uint8 `[height, width, 3]`."""
        w_tilde = self._hyper_coding.decompress(
            sections[0][None], self.latent_shape(height, width))
        mean, index = self._parameters(w_tilde)
        z = self._coding.decompress(sections[1][None], index)
        return self._synthesize(z, mean, height, width)

    def _quantized(self, image):
        """Encoder side: the values the decoder will see, and their bits."""
        y, v = self._analyze(image)
        w_tilde, hyper_bits = self._hyper_coding(v, training=False)
        mean, index = self._parameters(w_tilde)
        z, bits = self._coding(self._residual(y, mean), index, training=False)
        return z, mean, hyper_bits[0] + bits[0]

    def reconstruct_image(self, image):
        """The reconstruction the encoder computes from its own quantized latents."""
        z, mean, _ = self._quantized(image)
        shape = tf.shape(image)
        return self._synthesize(z, mean, shape[0], shape[1])

    def estimate_bits(self, image):
        """Information content of the coded latents under the coding distributions."""
        return self._quantized(image)[2]
