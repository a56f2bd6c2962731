"""What a latent codec is: latents in, their reconstruction and bits out, and strings.

A latent codec is the part of a model between the analysis and the synthesis
transform, as in CompressAI's `latent_codecs` but in tfc's idiom: it sends the
latents through its channel (uniform noise in training, the coding configuration's
quantizer at test time), counts their bits under its entropy models, and codes them
into one string per section. It holds no variables itself: the transforms and
densities it drives belong to the model (so checkpoints keep their paths), and its
coding tables to the entropy models `prepare_coding` builds.

Methods, for latents `y` of a batch (`[B, h, w, C]`):

* `__call__(y, training, dither)` -> `(y_hat, bits)`, bits per image;
* `prepare_coding(config, coder, tables)` -> the entropy models of the sections;
* `compress(y)` (a batch of one) -> list of scalar strings, one per section;
* `decompress(sections, latent_shape)` -> `y_hat` `[1, h, w, C]`;
* `quantize(y)` -> `(y_hat, bits)`: what `decompress` will return, and its bits
  under the coding tables (the encoder's side, without coding).
"""

from tfnq import quantizers

__all__ = ["LatentCodec", "make_quantizer"]


def make_quantizer(config, num_noise_levels):
    """The test-time quantizer of a `CodingConfig` (a universal quantizer's levels
    default to the model's `num_noise_levels`)."""
    settings = config.quantizer_config
    if settings.get("name") == "universal":
        settings.setdefault("num_levels", num_noise_levels)
    return quantizers.get_quantizer(settings)


class LatentCodec:
    """Base of the latent codecs (see the module docstring)."""

    num_sections = None

    def __init__(self):
        self.coding_models = None
        self.coding_rate = None

    def _check_prepared(self):
        if self.coding_models is None:
            raise RuntimeError("call prepare_coding() before coding")
