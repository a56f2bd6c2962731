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

import tensorflow as tf
import tensorflow_compression as tfc

from tfnq import distributions, entropy_models, layers, ops
from tfnq.models import modes as modes_lib
from tfnq.models import padding

__all__ = ["LinearCodec"]

_CENTER = 127.5


class LinearCodec(tf.keras.Model):
    """Linear block-transform codec with a factorized prior."""

    architecture = "linear"
    num_sections = 1

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
        self.base_prior = tfc.DeepFactorized(batch_shape=[self.num_channels])
        self.prior = distributions.noisy_density(
            self.base_prior, self.alpha if self.soft_round else None)
        self.analysis.build([None, None, None, 3])
        self.synthesis.build([None, None, None, self.num_channels])
        self.soft_round_layer.build([None, None, None, self.num_channels])
        self._coding = None
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

    def _training_entropy_model(self, dither):
        return entropy_models.UniversalBatchedEntropyModel(
            self.prior, coding_rank=3, dither=dither, compression=False,
            expected_grads=self.expected_grads, num_noise_levels=self.num_noise_levels)

    def _encode(self, x):
        y = self.analysis(x - _CENTER)
        if self.soft_round:
            y = self.soft_round_layer(y)
        return y

    def _decode(self, y, y_tilde):
        if self.soft_round:
            y_tilde = ops.noisy_soft_round_reconstruction(
                y, y_tilde, self.alpha, expected_grads=self.expected_grads)
        return self.synthesis(y_tilde) + _CENTER

    def call(self, x, training=False, mode="UN+UQ"):
        """Rate and distortion of a batch.

        Args:
          x: float32 `[B, H, W, 3]` in 0-255, `H` and `W` multiples of the block size.
          training: Uniform noise (True) or the test-time quantizer of `mode` (False).
          mode: Test-time mode used when `training=False`.

        Returns:
          `(bpp, mse, x_hat)`: mean bits per pixel, mean squared error in 0-255
          units, and the reconstruction.
        """
        dither = True if training else modes_lib.get_mode(mode).dither
        entropy_model = self._training_entropy_model(dither)
        y = self._encode(x)
        y_tilde, bits = entropy_model(y, training=training)
        x_hat = self._decode(y, y_tilde)
        num_pixels = tf.cast(tf.reduce_prod(tf.shape(x)[1:3]), bits.dtype)
        bpp = tf.reduce_mean(bits) / num_pixels
        mse = tf.reduce_mean(tf.math.squared_difference(x, x_hat))
        return bpp, mse, x_hat

    # -- Real coding ------------------------------------------------------------------

    def prepare_coding(self, mode, coder=None, tables=None):
        """Builds the coding tables for `mode` (eager; once, before export).

        Args:
          mode: Test-time mode.
          coder: Optional `tfnq.coders.Coder`.
          tables: Optional `CodingTables` of the section, stored before (a re-export
            keeps its tables), instead of building them.

        Returns:
          The entropy models that code the sections of a file, in order (here one).
        """
        mode = modes_lib.get_mode(mode)
        if mode.soft_round != self.soft_round:
            raise ValueError(
                f"Mode {mode.name} needs a model trained "
                f"{'with' if mode.soft_round else 'without'} soft rounding.")
        self.coding_mode = mode
        self._coding = entropy_models.UniversalBatchedEntropyModel(
            self.prior, coding_rank=3, dither=mode.dither, compression=True,
            num_noise_levels=self.num_noise_levels, coder=coder,
            tables=tables[0] if tables else None)
        return [self._coding]

    def _pad(self, image):
        return padding.pad_image(image, self.block_size)

    def _to_image(self, x_hat, height, width):
        return padding.crop_to_image(x_hat, height, width)

    def compress_image(self, image):
        """uint8 `[H, W, 3]` -> list of one scalar string."""
        y = self._encode(self._pad(image))
        return [self._coding.compress(y)[0]]

    def latent_shape(self, height, width):
        """Spatial shape of the latents for an image of the given size."""
        b = self.block_size
        return tf.stack([(height + b - 1) // b, (width + b - 1) // b])

    def decompress_image(self, sections, height, width):
        """Sections from `compress_image` -> uint8 `[height, width, 3]`."""
        y_tilde = self._coding.decompress(sections[0][None], self.latent_shape(height, width))
        x_hat = self._decode(y_tilde, y_tilde)
        return self._to_image(x_hat, height, width)

    def reconstruct_image(self, image):
        """The reconstruction the encoder computes from its own quantized latents."""
        y = self._encode(self._pad(image))
        y_tilde = self._coding.quantize(y)
        x_hat = self._decode(y_tilde, y_tilde)
        shape = tf.shape(image)
        return self._to_image(x_hat, shape[0], shape[1])

    def estimate_bits(self, image):
        """Information content of the coded latents under the coding distribution."""
        y = self._encode(self._pad(image))
        _, bits = self._coding(y, training=False)
        return bits[0]
