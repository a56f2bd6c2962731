"""What every tfnq codec is: analysis and synthesis transforms around a latent codec.

    y = analyze(x)                          latents of an image batch (0-255 floats)
    y = infer(y, x, **inputs)               encode-time inference (identity; e.g. SGA),
                                            with the configuration's encoder inputs
    y_hat, bits = latent_codec(y, ...)      the channel: noise in training, the coding
                                            configuration's quantizer at test time
    x_hat = synthesize(refine(y_hat))       `refine`: a decoder-side step (identity)

A model defines `analyze`, `synthesize` and its `latent_codec` (`tfnq.latent_codecs`);
this base composes them into the training forward (`call`), the rate-distortion
objective of given latents (`rd_objective`, what encode-time inference such as SGA
minimizes over `y`), and the image coding functions an export traces. Images are
edge-padded to a multiple of `downsampling` and decoded images cropped back.
"""

import tensorflow as tf

from tfnq import coders, coding_config
from tfnq.models import padding

__all__ = ["CompressionModel"]


class CompressionModel(tf.keras.Model):
    """Base of tfnq's codecs (see the module docstring).

    Subclasses set `architecture`, `downsampling` (images are padded to a multiple of
    it), `latent_stride` (image pixels per latent, per side) and, in their
    initializer, `self.soft_round` (the model was trained with the soft-rounding
    channel) and `self.latent_codec`; and define `analyze(x)` and `synthesize(y_hat)`.
    """

    architecture = None
    downsampling = 1
    latent_stride = 1
    # Version of the exported arithmetic (part of the fingerprint, `tfnq.export`).
    numerics = 1
    # The encode-time inference and decoder refinement a coding configuration may name,
    # and the per-image encoder inputs (`CodingConfig.inputs`) they take.
    supported_stages = {"inference": ("none",), "refinement": ("none",)}
    supported_inputs = ()
    # Whether the decoder's synthesis has a bfloat16 form (`coding_synthesize`).
    bfloat16_synthesis = False

    def analyze(self, x):
        """Latents of a float32 batch `[B, H, W, 3]` in 0-255."""
        raise NotImplementedError

    def synthesize(self, latents):
        """Reconstruction (float, 0-255) of decoded latents."""
        raise NotImplementedError

    def coding_synthesize(self, latents, bfloat16=False):
        """The reconstruction a decoder computes from decoded latents (float, 0-255).

        `synthesize` by default. A model may compute the same map in a form that runs
        faster at test time (e.g. sub-pixel convolutions), and, if it sets
        `bfloat16_synthesis`, in bfloat16 where `bfloat16` (a Python bool or a bool
        tensor) says so. The symbols of a file never depend on this: only the decoded
        image does, by the precision's rounding.
        """
        del bfloat16
        return self.synthesize(latents)

    def infer(self, latents, x, **inputs):
        """Encode-time inference: the latents to code for padded image batch `x`.

        The identity (the analysis transform's output is coded as it is); a coding
        configuration with an `inference` stage (e.g. SGA over the latents, which
        minimizes `rd_objective`) overrides this, taking the configuration's `inputs`
        (e.g. a step count) as keyword arguments.
        """
        del x, inputs
        return latents

    def refine(self, latents):
        """Decoder-side refinement of decoded latents before synthesis (identity).

        A coding configuration with a `refinement` (e.g. Latent Shift) overrides this;
        encoder and decoder both apply it, so `reconstruct_image` stays exact.
        """
        return latents

    @property
    def num_sections(self):
        """Strings per file (e.g. hyper-latents, then latents)."""
        return self.latent_codec.num_sections

    @property
    def transform_variables(self):
        """Variables of the transforms (analysis, synthesis and the latent codec's)."""
        raise NotImplementedError

    @property
    def density_variables(self):
        """Variables of the learned densities the latent codec codes with."""
        raise NotImplementedError

    # -- Training and evaluation ------------------------------------------------------

    def _rate_args(self, rate):
        return {} if rate is None else dict(rate=rate)

    def rate_distortion(self, latents, x, training=True, mode="UN+UQ", rate=None):
        """`(bpp, mse, x_hat)` of coding `latents` as the latents of batch `x`.

        Args:
          latents: Latents of `x` (`analyze(x)`, or values an encoder optimized).
          x: float32 `[B, H, W, 3]` in 0-255, sides multiples of `downsampling`.
          training: Uniform noise (True) or the test-time quantizer of `mode`.
          mode: A coding configuration or preset name, used when `training=False`.
          rate: Index of the rate (variable-rate models only; a Python int).
        """
        dither = True if training else coding_config.get_coding_config(mode).dither
        latents_hat, bits = self.latent_codec(latents, training=training, dither=dither,
                                              **self._rate_args(rate))
        x_hat = self.synthesize(self.refine(latents_hat))
        num_pixels = tf.cast(tf.reduce_prod(tf.shape(x)[1:3]), bits.dtype)
        bpp = tf.reduce_mean(bits) / num_pixels
        mse = tf.reduce_mean(tf.math.squared_difference(x, x_hat))
        return bpp, mse, x_hat

    def rd_objective(self, latents, x, lmbda, training=True, mode="UN+UQ", rate=None):
        """`bpp + lmbda * mse` of coding `latents` for `x` (Eq. 21 of Agustsson & Theis,
        NeurIPS 2020, per pixel), differentiable in `latents`: the objective that
        encode-time inference over the latents of a trained model minimizes.

        Returns:
          `(loss, bpp, mse)`.
        """
        bpp, mse, _ = self.rate_distortion(latents, x, training=training, mode=mode,
                                           rate=rate)
        return bpp + lmbda * mse, bpp, mse

    def call(self, x, training=False, mode="UN+UQ", rate=None):
        """Rate and distortion of a batch.

        Args:
          x: float32 `[B, H, W, 3]` in 0-255, sides multiples of `downsampling`.
          training: Uniform noise (True) or the test-time quantizer of `mode` (False).
          mode: Test-time coding configuration (or preset name) when `training=False`.
          rate: Index of the rate (variable-rate models only; a Python int).

        Returns:
          `(bpp, mse, x_hat)`: mean bits per pixel, mean squared error in 0-255
          units, and the reconstruction.
        """
        return self.rate_distortion(self.analyze(x), x, training=training, mode=mode,
                                    rate=rate)

    # -- Real coding ------------------------------------------------------------------

    def check_config(self, config):
        """The `CodingConfig` of `config`, if this model can code with it."""
        config = coding_config.get_coding_config(config)
        if config.soft_round != self.soft_round:
            raise ValueError(
                f"Mode {config.label} needs a model trained "
                f"{'with' if config.soft_round else 'without'} soft rounding.")
        coders.get_coder(config.coder)  # A coder tfnq has.
        unknown = sorted({name for name, _, _ in config.inputs} - set(self.supported_inputs))
        if unknown:
            raise ValueError(f"{type(self).__name__} takes no encoder input {unknown[0]!r} "
                             f"(it takes {sorted(self.supported_inputs)})")
        for stage in ("inference", "refinement"):
            if getattr(config, stage) not in self.supported_stages[stage]:
                raise ValueError(f"{type(self).__name__} has no {stage} "
                                 f"{getattr(config, stage)!r} (it has "
                                 f"{sorted(self.supported_stages[stage])})")
        return config

    def prepare_coding(self, mode, coder=None, rate=None, tables=None):
        """Builds the coding tables for `mode` (eager; once, before export).

        Args:
          mode: A `CodingConfig` or preset name.
          coder: Optional `tfnq.coders.Coder` of the kind the configuration names
            (e.g. `RansCoder(jit_compile=True)` for "rans"); by default, that coder
            with its default settings. None for a stack coder (outside the graph).
          rate: The rate to code at (variable-rate models only).
          tables: Optional `CodingTables` of each section, stored before (a re-export
            keeps its tables), instead of building them.

        Returns:
          The entropy models that code the sections of a file, in order.
        """
        self.coding_mode = self.check_config(mode)
        self.coding_rate = rate
        name = self.coding_mode.coder
        if coder is None and not coders.is_stack_coder(name):
            coder = coders.get_coder(name)
        if coder is not None and not isinstance(coder, coders.CODERS[name]):
            raise ValueError(f"a {type(coder).__name__} cannot code for a configuration "
                             f"that names the coder {name!r}")
        return self.latent_codec.prepare_coding(
            self.coding_mode, coder=coder, tables=tables, **self._rate_args(rate))

    @property
    def coding_transforms(self):
        """Modules besides the entropy models that `prepare_coding` built and coding
        depends on (e.g. an integer hyper-synthesis), for an export to store."""
        return list(self.latent_codec.coding_transforms)

    def latent_shape(self, height, width):
        """Spatial shape of the latents (`analyze`'s output) of an image of this size."""
        d, s = self.downsampling, self.latent_stride
        return tf.stack([(height + d - 1) // d * (d // s), (width + d - 1) // d * (d // s)])

    def _latents(self, image, inputs=None):
        """The latents to code for a uint8 image: analysis, then encode-time inference
        (`inputs`: the configuration's encoder inputs; their defaults if None)."""
        x = padding.pad_image(image, self.downsampling)
        if inputs is None:
            inputs = {name: default for name, _, default in self.coding_mode.inputs}
        return self.infer(self.analyze(x), x, **inputs)

    def _image(self, latents_hat, height, width, bfloat16=False):
        return padding.crop_to_image(
            self.coding_synthesize(self.refine(latents_hat), bfloat16), height, width)

    def compress_image(self, image, inputs=None):
        """uint8 `[H, W, 3]` -> list of `num_sections` scalar strings (`inputs`: the
        coding configuration's encoder inputs, by name; their defaults if None)."""
        return self.latent_codec.compress(self._latents(image, inputs))

    def decompress_image(self, sections, height, width, bfloat16=False):
        """Sections from `compress_image` -> uint8 `[height, width, 3]` (`bfloat16`:
        see `coding_synthesize`)."""
        latents_hat = self.latent_codec.decompress(sections, self.latent_shape(height, width))
        return self._image(latents_hat, height, width, bfloat16)

    # Coding through symbols, for a coder outside the graph (`tfnq.coders.StackCoder`):
    # an export traces these, and `tfnq.client` runs the coder between them.

    def image_symbols(self, image):
        """uint8 `[H, W, 3]` -> `[(symbols, rows), ...]`, one pair per section."""
        return self.latent_codec.to_symbols(self._latents(image))

    def _decoder_state(self, symbols, height, width):
        codec = self.latent_codec
        state = codec.decoder_state(self.latent_shape(height, width))
        for k, section in enumerate(symbols):
            state = codec.receive(k, section, state)
        return state

    def section_rows(self, k, symbols, height, width):
        """Table rows of section `k`'s symbols, given the symbols of the sections before."""
        return self.latent_codec.section_rows(k, self._decoder_state(symbols, height, width))

    def image_from_symbols(self, symbols, height, width, bfloat16=False):
        """The symbols of every section -> uint8 `[height, width, 3]`."""
        state = self._decoder_state(symbols, height, width)
        return self._image(self.latent_codec.latents_from(state), height, width, bfloat16)

    def reconstruct_image(self, image, bfloat16=False):
        """The reconstruction the encoder computes from its own quantized latents: the
        decoder's image, bit for bit, with the same `bfloat16`."""
        latents_hat, _ = self.latent_codec.quantize(self._latents(image))
        shape = tf.shape(image)
        return self._image(latents_hat, shape[0], shape[1], bfloat16)

    def estimate_bits(self, image):
        """Information content of the coded latents under the coding tables."""
        return self.latent_codec.quantize(self._latents(image))[1][0]
