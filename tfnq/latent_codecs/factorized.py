"""Latents coded with a factorized density: the bottleneck of the linear codec of
Agustsson & Theis (NeurIPS 2020, Sec. 5.1), after Ballé et al. (ICLR 2017).

    z = s_alpha(y) + u       the channel (`tfnq.quantizers.SoftRoundChannel`)
    y_hat = r_alpha(z)

with one deep factorized density per channel, adapted to the channel (Eq. 22), coded
by a `tfnq.UniversalBatchedEntropyModel`: one section.
"""

import tensorflow as tf

from tfnq import entropy_models
from tfnq.latent_codecs.base import LatentCodec, make_quantizer

__all__ = ["FactorizedLatentCodec"]


class FactorizedLatentCodec(LatentCodec):
    """A factorized bottleneck behind a soft-rounding (or identity) channel."""

    num_sections = 1

    def __init__(self, prior, base_prior, channel, num_noise_levels=15,
                 expected_grads=False):
        """Initializer.

        Args:
          prior: The density of the channel's output (`channel.density(base_prior)`).
          base_prior: The learned density of the latents (a `tfc.DeepFactorized`).
          channel: A `tfnq.quantizers.SoftRoundChannel`.
          num_noise_levels: Levels of the dither of universal quantization.
          expected_grads: Expected gradients for the rate (Eq. 17).
        """
        super().__init__()
        self.prior = prior
        self.base_prior = base_prior
        self.channel = channel
        self.num_noise_levels = int(num_noise_levels)
        self.expected_grads = bool(expected_grads)

    def __call__(self, latents, training=True, dither=True):
        model = entropy_models.UniversalBatchedEntropyModel(
            self.prior, coding_rank=3, dither=dither, compression=False,
            expected_grads=self.expected_grads, num_noise_levels=self.num_noise_levels)
        sent = self.channel.encode(latents)
        received, bits = model(sent, training=training)
        return self.channel.reconstruct(sent, received), bits

    def prepare_coding(self, config, coder=None, tables=None):
        self.coding_models = [entropy_models.UniversalBatchedEntropyModel(
            self.prior, coding_rank=3, compression=True, coder=coder,
            quantizer=make_quantizer(config, self.num_noise_levels),
            tables=tables[0] if tables else None)]
        return self.coding_models

    def to_symbols(self, latents):
        self._check_prepared()
        return [self.coding_models[0].to_symbols(self.channel.encode(latents))]

    def section_rows(self, k, state):
        shape = tf.concat([[1], state["latent_shape"], self.coding_models[0].prior_shape_tensor], 0)
        return self.coding_models[0].table_rows(shape)

    def receive(self, k, symbols, state):
        return dict(state, received=self.coding_models[0].from_symbols(symbols))

    def latents_from(self, state):
        return self.channel.decode(state["received"])

    def quantize(self, latents):
        self._check_prepared()
        received, bits = self.coding_models[0](self.channel.encode(latents), training=False)
        return self.channel.decode(received), bits
