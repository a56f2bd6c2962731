"""Linear block transforms: the 8x8 analysis/synthesis of the linear codec.

Sec. 5.1 of Agustsson & Theis, NeurIPS 2020: the encoder is a convolution with
kernel size 8, stride 8 and 192 = 8 * 8 * 3 output channels, the decoder the
corresponding transposed convolution, both initialized with random orthogonal
matrices (Saxe et al., 2014). App. F also initializes them as JPEG/JFIF does:
a YCbCr colour transform followed by the 8x8 DCT, with the inverses in the decoder.
"""

import numpy as np
import tensorflow as tf

__all__ = [
    "BlockAnalysis",
    "BlockSynthesis",
    "block_basis",
]

# ITU-T T.871 (JFIF) RGB -> YCbCr, without the +128 offset of the chroma channels.
_RGB_TO_YCBCR = np.array([
    [0.299, 0.587, 0.114],
    [-0.168736, -0.331264, 0.5],
    [0.5, -0.418688, -0.081312],
])


def _dct_matrix(n):
    """Orthonormal DCT-II matrix, rows are basis functions."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d


def block_basis(init, block_size=8, channels=3, seed=0):
    """Analysis matrix `A` (coefficients x pixels) of a block transform.

    Pixels of a block are flattened in (row, column, channel) order, the order of a
    `Conv2D` kernel `[block, block, channels, filters]`.

    Args:
      init: "orthogonal" (random orthogonal, Saxe et al. 2014) or "jpeg"
        (YCbCr followed by the 2-D DCT of each channel, App. F).
      block_size: Block side length.
      channels: Image channels (3 for "jpeg").
      seed: Seed of the random orthogonal matrix.

    Returns:
      float64 array `[n, n]`, `n = block_size**2 * channels`.
    """
    n = block_size * block_size * channels
    if init == "orthogonal":
        rng = np.random.default_rng(seed)
        q, r = np.linalg.qr(rng.standard_normal((n, n)))
        return q * np.sign(np.diag(r))[None, :]
    if init == "jpeg":
        if channels != 3:
            raise ValueError("The JPEG initialization needs 3 channels.")
        d = _dct_matrix(block_size)
        dct2 = np.kron(d, d)  # (u, v) x (row, column)
        a = np.kron(dct2, _RGB_TO_YCBCR)  # ((u, v), colour) x ((row, column), channel)
        # Order coefficients channel-major (all Y, then Cb, then Cr), low frequencies first.
        order = np.arange(n).reshape(block_size * block_size, channels).T.reshape(-1)
        return a[order]
    raise ValueError(f"Unknown block transform initialization: {init!r}")


def _kernel(matrix, block_size, channels):
    # matrix: filters x pixels -> Conv2D kernel [b, b, channels, filters].
    n = matrix.shape[0]
    return matrix.T.reshape(block_size, block_size, channels, n).astype(np.float32)


class _BlockTransform(tf.keras.layers.Layer):
    """Shared configuration of the analysis and synthesis block transforms."""

    def __init__(self, block_size=8, channels=3, init="orthogonal", seed=0, step=8.0,
                 **kwargs):
        """Initializer.

        Args:
          block_size: Block side (the stride and kernel size).
          channels: Image channels.
          init: "orthogonal" or "jpeg" (see `block_basis`).
          seed: Seed of the orthogonal initialization; give analysis and synthesis
            the same seed to start from an exact inverse pair, different seeds for
            the independent initialization of the paper.
          step: Quantization step in pixel units that the transform starts at: the
            analysis computes `(K / step) x` and the synthesis `(step K') y` with
            trainable `K` initialized to `A` and `K'` to `A^{-1}`. Keeping the step
            as a fixed gain outside the parameters keeps them of order one, so the
            optimizer's step sizes mean the same for any `step`.
        """
        super().__init__(**kwargs)
        self.block_size = int(block_size)
        self.channels = int(channels)
        self.init = init
        self.seed = int(seed)
        self.step = float(step)
        self.num_filters = self.block_size * self.block_size * self.channels

    def _matrix(self):
        return block_basis(self.init, self.block_size, self.channels, self.seed)

    def get_config(self):
        config = super().get_config()
        config.update(block_size=self.block_size, channels=self.channels, init=self.init,
                      seed=self.seed, step=self.step)
        return config


class BlockAnalysis(_BlockTransform):
    """`f`: `[B, H, W, C]` pixels -> `[B, H/b, W/b, b*b*C]` coefficients."""

    def build(self, input_shape):
        kernel = _kernel(self._matrix(), self.block_size, self.channels)
        self.kernel = self.add_weight(
            "kernel", shape=kernel.shape, initializer=tf.constant_initializer(kernel))
        self.bias = self.add_weight(
            "bias", shape=[self.num_filters], initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        outputs = tf.nn.conv2d(inputs, self.kernel / self.step, self.block_size, "VALID")
        return tf.nn.bias_add(outputs, self.bias)


class BlockSynthesis(_BlockTransform):
    """`g`: `[B, h, w, b*b*C]` coefficients -> `[B, h*b, w*b, C]` pixels."""

    def build(self, input_shape):
        # Transposed convolution with kernel K computes x = S y where column c of S is
        # K[..., c] flattened; S = (A / step)^{-1} = step * A^{-1}.
        inverse = np.linalg.inv(self._matrix())
        kernel = _kernel(inverse.T, self.block_size, self.channels)
        self.kernel = self.add_weight(
            "kernel", shape=kernel.shape, initializer=tf.constant_initializer(kernel))
        self.bias = self.add_weight("bias", shape=[self.channels], initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        shape = tf.shape(inputs)
        output_shape = tf.stack([
            shape[0], shape[1] * self.block_size, shape[2] * self.block_size, self.channels])
        outputs = tf.nn.conv2d_transpose(
            inputs, self.kernel * self.step, output_shape, self.block_size, "VALID")
        return tf.nn.bias_add(outputs, self.bias)
