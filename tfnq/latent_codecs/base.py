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
* `prepare_coding(config, coder, tables)` -> the entropy models of the sections
  (and, in `coding_transforms`, any other module both sides code with, such as the
  integer hyper-synthesis of `MeanScaleHyperpriorLatentCodec`);
* `compress(y)` (a batch of one) -> list of scalar strings, one per section;
* `decompress(sections, latent_shape)` -> `y_hat` `[1, h, w, C]`;
* `quantize(y)` -> `(y_hat, bits)`: what `decompress` will return, and its bits
  under the coding tables (the encoder's side, without coding).

Coding goes through symbols, so that a coder outside the graph (a stack coder,
`tfnq.coders.StackCoder`) can code the same sections as the in-graph coders:

* `to_symbols(y)` -> `[(symbols, rows), ...]`, one pair per section: the quantizer's
  int32 symbols and the table row of each, in the tables of `coding_models[k]`;
* the decoder side as steps over a state (a dict of tensors):
  `decoder_state(latent_shape)`, then for each section k in order
  `section_rows(k, state)` (the table rows of its symbols: they depend on the
  sections before it) and `receive(k, symbols, state)`, and finally
  `latents_from(state)` -> `y_hat`.

`compress` and `decompress` are these steps with each section's coder.
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
        # Modules `prepare_coding` builds besides the entropy models, whose variables
        # the coding depends on (stored in an export and hashed into its fingerprint).
        self.coding_transforms = []

    def _check_prepared(self):
        if self.coding_models is None:
            raise RuntimeError("call prepare_coding() before coding")

    # -- Symbols, and the decoder's steps (subclasses) ----------------------------

    def to_symbols(self, latents):
        """`[(symbols, rows), ...]` of each section for latents (a batch of one)."""
        raise NotImplementedError

    def decoder_state(self, latent_shape):
        """The decoder's state before any section is decoded."""
        return {"latent_shape": latent_shape}

    def section_rows(self, k, state):
        """Table rows of the symbols of section `k`, from the sections before it."""
        raise NotImplementedError

    def receive(self, k, symbols, state):
        """The state after the symbols of section `k` are decoded."""
        raise NotImplementedError

    def latents_from(self, state):
        """The decoded latents `y_hat`, once every section is received."""
        raise NotImplementedError

    # -- Coding with each section's coder -----------------------------------------

    def compress(self, latents):
        """Latents (a batch of one) -> a scalar string per section."""
        self._check_prepared()
        return [model.encode_symbols(symbols, rows)[0] for model, (symbols, rows) in zip(
            self.coding_models, self.to_symbols(latents), strict=True)]

    def decompress(self, sections, latent_shape):
        """Strings of `compress` -> `y_hat` `[1, h, w, C]`."""
        return self.latents_from(self._decode(sections, latent_shape)[0])

    def decompress_symbols(self, sections, latent_shape):
        """Strings of `compress` -> `[(symbols, rows), ...]` of each section, decoded."""
        return self._decode(sections, latent_shape)[1]

    def _decode(self, sections, latent_shape):
        self._check_prepared()
        state = self.decoder_state(latent_shape)
        decoded = []
        for k, (model, string) in enumerate(zip(self.coding_models, sections, strict=True)):
            rows = self.section_rows(k, state)
            symbols = model.decode_symbols(string[None], rows)
            decoded.append((symbols, rows))
            state = self.receive(k, symbols, state)
        return state, decoded
