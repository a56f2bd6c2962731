"""Latents coded given a mean and a scale that a hyperprior predicts: the
"Mean & Scale Hyperprior" of Minnen et al. (NeurIPS 2018, without the context model)
with the universal quantization and soft rounding of Agustsson & Theis (NeurIPS 2020,
Sec. 5.1, Eqs. 22-24):

    v = s_alpha(h(y) * hg)                    hyper-latents (gains: 1 at a fixed rate)
    w_hat = r_alpha(v + u_1) / hg             factorized density, adapted (Eq. 22)
    mu, i = hyper_synthesis(w_hat)            mean and scale index of every latent
    z = s_alpha((y - mu) * g) + u_2           coded given N(0, sigma_i * g) * U, Eq. 23
    y_hat = r_alpha(z) / g + mu

Two sections: the hyper-latents (`UniversalBatchedEntropyModel`), then the latents
(`UniversalIndexedEntropyModel` over a log-spaced grid of `num_scales` scales from
`scale_min` to `scale_max`; one table per scale and quantizer level). Without soft
rounding `s` and `r` are the identity. The per-rate gains `g`, `hg` (and inverse
gains) of a variable-rate model (`tfnq.VariableRateHyperprior`) come from the model's
`gains_fn(rate)`; the hyper-latents' density of a rate from `hyper_density_fn(rate)`.
"""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfnq import entropy_models, layers
from tfnq.latent_codecs.base import LatentCodec, make_quantizer

__all__ = ["MeanScaleHyperpriorLatentCodec"]


def _scaled(values, gain):
    return values if gain is None else values * gain


class MeanScaleHyperpriorLatentCodec(LatentCodec):
    """Mean-scale hyperprior latent codec (see the module docstring)."""

    num_sections = 2  # Hyper-latents, then latents.

    def __init__(self, hyper_analysis, hyper_synthesis, hyper_density_fn, channel,
                 gains_fn=None, hyper_stride=4, num_scales=64, scale_min=0.11,
                 scale_max=256.0, num_noise_levels=15, expected_grads=False):
        """Initializer.

        Args:
          hyper_analysis: Latents -> hyper-latents (a Keras layer the model owns).
          hyper_synthesis: Hyper-latents -> `concat([mean, scale index])`.
          hyper_density_fn: `rate -> density` of the hyper-latents after the channel.
          channel: A `tfnq.quantizers.SoftRoundChannel`.
          gains_fn: `rate -> Gains or None` (None: every gain one).
          hyper_stride: Latents per hyper-latent, per side.
          num_scales: Number of scales in the coding tables of the latents.
          scale_min: Smallest scale.
          scale_max: Largest scale.
          num_noise_levels: Levels of the dither of universal quantization.
          expected_grads: Expected gradients for the rates and `r_alpha` (+E).
        """
        super().__init__()
        self.hyper_analysis = hyper_analysis
        self.hyper_synthesis = hyper_synthesis
        self.hyper_density_fn = hyper_density_fn
        self.channel = channel
        self.gains_fn = gains_fn or (lambda rate: None)
        self.hyper_stride = int(hyper_stride)
        self.num_scales = int(num_scales)
        self.scale_min = float(scale_min)
        self.scale_max = float(scale_max)
        self.num_noise_levels = int(num_noise_levels)
        self.expected_grads = bool(expected_grads)

    # -- The conditional density of Eq. 23 on a grid of scales ------------------------

    @property
    def log_scale_step(self):
        return (math.log(self.scale_max) - math.log(self.scale_min)) / (self.num_scales - 1)

    def scale(self, index):
        """Scale of table index `index` (float, `[..., 1]`): a log-spaced grid."""
        return tf.math.exp(math.log(self.scale_min) + self.log_scale_step * index[..., 0])

    def conditional_prior(self, scale):
        """Density of `s_alpha(R) + U` (or `R + U`) for `R ~ N(0, scale)`."""
        return self.channel.density(
            tfp.distributions.Normal(loc=tf.zeros_like(scale), scale=scale))

    def entropy_models(self, dither=True, compression=False, coder=None, rate=None,
                       tables=None, quantizer=None):
        """The hyper-latents' and the latents' entropy models."""
        hyper_tables, tables = tables or (None, None)
        args = dict(coding_rank=3, dither=dither, compression=compression,
                    expected_grads=self.expected_grads,
                    num_noise_levels=self.num_noise_levels, coder=coder,
                    quantizer=quantizer)
        hyper = entropy_models.UniversalBatchedEntropyModel(
            self.hyper_density_fn(rate), tables=hyper_tables, **args)
        conditional = entropy_models.UniversalIndexedEntropyModel(
            self.conditional_prior, [self.num_scales], dict(scale=self.scale),
            tables=tables, **args)
        return hyper, conditional

    # -- The channel ------------------------------------------------------------------

    def hyper_parameters(self, w_hat, gains=None):
        """Mean and float table index of every latent, from the hyper-latents.

        With gains the latents are coded as `(y - mean) * g`, whose scale is `scale * g`:
        the index moves by `log(g)` over the log step of the scale grid.
        """
        if gains is not None:
            w_hat = w_hat * gains.hyper_inverse
        mean, index = tf.split(self.hyper_synthesis(w_hat), 2, axis=-1)
        if gains is not None:
            index = index + gains.log_latent / self.log_scale_step
        return mean, index[..., None]

    def _hyper_latents(self, latents, gains):
        return self.channel.encode(
            _scaled(self.hyper_analysis(latents), gains and gains.hyper))

    def _residual(self, latents, mean, gains):
        return self.channel.encode(_scaled(latents - mean, gains and gains.latent))

    def _latents_hat(self, residual, received, mean, gains):
        return _scaled(self.channel.reconstruct(residual, received),
                       gains and gains.latent_inverse) + mean

    def __call__(self, latents, training=True, dither=True, rate=None):
        hyper_model, conditional_model = self.entropy_models(dither, rate=rate)
        gains = self.gains_fn(rate)
        v = self._hyper_latents(latents, gains)
        w_tilde, hyper_bits = hyper_model(v, training=training)
        mean, index = self.hyper_parameters(self.channel.reconstruct(v, w_tilde), gains)
        residual = self._residual(latents, mean, gains)
        z, bits = conditional_model(residual, index, training=training)
        return self._latents_hat(residual, z, mean, gains), bits + hyper_bits

    # -- Real coding ------------------------------------------------------------------

    def prepare_coding(self, config, coder=None, tables=None, rate=None):
        """Builds the entropy models of the two sections and the integer form of the
        hyper-synthesis that both sides code with (`coding_transforms`)."""
        self.coding_rate = rate
        self.coding_quantizer = make_quantizer(config, self.num_noise_levels)
        self.coding_models = list(self.entropy_models(
            compression=True, coder=coder, rate=rate, tables=tables,
            quantizer=self.coding_quantizer))
        self.coding_transforms = [self._integer_hyper_synthesis(rate)]
        return self.coding_models

    def _integer_hyper_synthesis(self, rate):
        """The hyper-synthesis as an `IntegerTransform` (Balle et al., ICLR 2019), with
        the channel's reconstruction of each quantizer level and a variable-rate model's
        gains folded in."""
        offsets = self.coding_quantizer.level_offsets(0)
        gains = self.gains_fn(rate)
        input_scale = output_offset = None
        if gains is not None:
            input_scale = gains.hyper_inverse.numpy()
            index_offset = gains.log_latent.numpy() / self.log_scale_step
            output_offset = np.concatenate([np.zeros_like(index_offset), index_offset])
        return layers.IntegerTransform.from_layers(
            self.hyper_synthesis.layers, self.channel.decode(offsets).numpy(),
            input_scale=input_scale, output_offset=output_offset,
            name="integer_hyper_synthesis")

    def _decoder_parameters(self, w_hat):
        """Both sides, when coding: mean and table index of every latent from the
        quantized hyper-latents `w_hat = k + o_j`, computed by the integer
        hyper-synthesis, so that they are the same bits on any device and build.

        Returns:
          `(mean, index)`: float32, the index `[..., 1]` a multiple of
          `2^-ACTIVATION_BITS` (the entropy model rounds it to a table).
        """
        quantizer = self.coding_quantizer
        levels = quantizer.element_levels(tf.shape(w_hat))
        if levels is None:
            levels, symbols = 0, tf.round(w_hat)
        else:
            symbols = tf.round(w_hat - quantizer.level_offset(levels, w_hat.dtype))
        out = self.coding_transforms[0](symbols, levels) * 2.0**-layers.ACTIVATION_BITS
        mean, index = tf.split(out, 2, axis=-1)
        index = tf.clip_by_value(index, -1.0, float(self.num_scales))
        return tf.cast(mean, w_hat.dtype), tf.cast(index, w_hat.dtype)[..., None]

    def to_symbols(self, latents):
        self._check_prepared()
        hyper_coding, coding = self.coding_models
        gains = self.gains_fn(self.coding_rate)
        v = self._hyper_latents(latents, gains)
        mean, index = self._decoder_parameters(hyper_coding.quantize(v))
        return [hyper_coding.to_symbols(v),
                coding.to_symbols(self._residual(latents, mean, gains), index)]

    def section_rows(self, k, state):
        hyper_coding, coding = self.coding_models
        if k == 0:
            shape = tf.concat([[1], state["latent_shape"] // self.hyper_stride,
                               hyper_coding.prior_shape_tensor], 0)
            return hyper_coding.table_rows(shape)
        return coding.table_rows(state["index"])

    def receive(self, k, symbols, state):
        hyper_coding, coding = self.coding_models
        if k == 0:
            w_hat = hyper_coding.from_symbols(symbols)
            mean, index = self._decoder_parameters(w_hat)
            return dict(state, mean=mean, index=index)
        return dict(state, z=coding.from_symbols(symbols, state["index"]))

    def latents_from(self, state):
        z = state["z"]
        return self._latents_hat(z, z, state["mean"], self.gains_fn(self.coding_rate))

    def quantize(self, latents):
        self._check_prepared()
        hyper_coding, coding = self.coding_models
        gains = self.gains_fn(self.coding_rate)
        v = self._hyper_latents(latents, gains)
        w_hat, hyper_bits = hyper_coding(v, training=False)
        mean, index = self._decoder_parameters(w_hat)
        z, bits = coding(self._residual(latents, mean, gains), index, training=False)
        return self._latents_hat(z, z, mean, gains), hyper_bits + bits
