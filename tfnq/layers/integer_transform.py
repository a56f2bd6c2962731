"""A trained stack of convolutions evaluated in exact integer arithmetic.

The values that select a coding table (the scale index a hyper-synthesis predicts)
must come out the same, bit for bit, in the encoder and in every decoder: on another
CPU, a GPU, another TensorFlow build, another thread count. Floating-point
convolutions do not promise that (summation order, FMA, Winograd and FFT algorithms
all move the last bits), and a scale index that lands on the other side of a rounding
boundary decodes garbage from then on (tfc issues #37, #44, #147; CompressAI #54,
#279, #320, #340). Ballé, Johnston & Minnen, "Integer Networks for Data Compression
with Latent-Variable Models" (ICLR 2019), make those networks integer networks
(Sec. 2, Eqs. 1-3: integer kernels and biases, a rounding division after each
convolution, a nonlinearity that maps integers to integers).

`IntegerTransform` is that construction applied after training, to the up-sampling
`SignalConv2D` stacks of a trained model:

* activations are integers at a fixed point of `ACTIVATION_BITS` fractional bits,
  clipped to `+-ACTIVATION_LIMIT` (so that every bound below holds for any input,
  including a forged file's);
* kernels are 16-bit integers at a power-of-two scale per layer, biases integers at
  the scale of the products; a layer's sum `sum_j w_j a_j + b` is formed in float64,
  where it is exact: every product and partial sum is an integer below `2^52` in
  magnitude (checked when the transform is built), so the result is the same in any
  order, blocking or device (float64 matrix products: Eigen, oneDNN, XLA, cuBLAS);
* the sum is brought back to the activation scale by `floor((s + 2^(k-1)) / 2^k)`
  (Eq. 2's rounding division, by a power of two: exact), and the leaky ReLU's slope
  `0.2` is applied as `floor(a * 13107 / 2^16)` (slope `0.20000458`), exact too: no
  operation of the transform rounds, so none can round differently elsewhere;
* an up-sampling convolution (`strides_up = s`) runs as one matrix product of
  `T x T` input patches with the `s^2` sub-pixel kernels, then a depth-to-space
  rearrangement (reshape and transpose): the same linear map as the layer's
  transposed convolution (which taps the layer uses is read off the layer itself,
  by convolving impulses), from slices, concatenations and a `MatMul` that every
  device has for float64.

Inputs are quantized values: integer symbols `k` and the quantizer level `j` of each
(the dither level of universal quantization, 0 for rounding), standing for
`k + c_j`, where `c_j` (`input_levels`) is the reconstruction of level `j` at the
fixed point (for soft rounding `r_alpha(o_j)`, since `r_alpha(k + o) = k + r_alpha(o)`).

Quantizing a trained float network this way changes its outputs by about
`2^-14` relative; a model that codes through it versions its numerics.
"""

import math

import numpy as np
import tensorflow as tf

from tfnq.layers.subpixel import subpixel_kernel, upsampling_taps
from tfnq.ops import rdft

__all__ = [
    "ACTIVATION_BITS",
    "ACTIVATION_LIMIT",
    "IntegerTransform",
    "upsampling_taps",
]

ACTIVATION_BITS = 16
ACTIVATION_LIMIT = 2**10
KERNEL_BITS = 15  # Kernels are int16: |round(w * 2^e)| <= 2^15 - 1.
LEAKY_SLOPE = 13107  # / 2^16: tf.nn.leaky_relu's 0.2 as a 16-bit fraction.
_EXACT = 2.0**52  # Float64 sums of integers below this are exact in any order.
_LIMIT = ACTIVATION_LIMIT * 2.0**ACTIVATION_BITS  # Largest |activation| as an integer.


def _activation_kind(activation):
    if activation is None or activation is tf.keras.activations.linear:
        return "linear"
    if activation is tf.nn.leaky_relu:
        return "leaky_relu"
    if activation in (tf.nn.relu, tf.keras.activations.relu):
        return "relu"
    raise ValueError(f"IntegerTransform has no integer form of activation {activation!r}")


def _float_kernel(layer):
    """The layer's kernel in float64 (an RDFT kernel computed in float64 numpy)."""
    import tensorflow_compression as tfc
    parameter = layer.kernel_parameter
    if isinstance(parameter, tfc.RDFTParameter):
        kh, kw, cin, cout = parameter.shape
        coefficients = np.concatenate(
            [np.reshape(parameter.real.numpy(), [cin * cout, -1]),
             np.reshape(parameter.imag.numpy(), [cin * cout, -1])], axis=1)
        taps = coefficients.astype(np.float64) @ rdft.irdft_matrix((kh, kw))
        return np.transpose(taps.reshape(cin, cout, kh, kw), (2, 3, 0, 1))
    return np.asarray(layer.kernel.numpy(), np.float64)


class IntegerTransform(tf.Module):
    """Up-sampling convolutions in exact integer arithmetic (module docstring)."""

    def __init__(self, kernels, biases, kernel_exponents, taps, offsets, strides,
                 activations, input_levels, name="integer_transform"):
        """Initializer (see `from_layers`, which computes these from trained layers).

        Args:
          kernels: Per layer, int16 kernel `[k, k, cin, cout]` (`round(w * 2^e)`).
          biases: Per layer, integer-valued float64 bias `[cout]` at the scale of the
            products, `2^-(e + ACTIVATION_BITS)`.
          kernel_exponents: Per layer, the exponent `e` of its kernel's scale.
          taps: Per layer, `upsampling_taps(layer)[0]`.
          offsets: Per layer, `upsampling_taps(layer)[1]`.
          strides: Per layer, `strides_up`.
          activations: Per layer, "linear", "relu" or "leaky_relu".
          input_levels: Integer-valued float64 `[L]`: the input value of each
            quantizer level at the fixed point.
          name: Module name.
        """
        super().__init__(name=name)
        with self.name_scope:
            self.kernels = [tf.Variable(np.asarray(k, np.int16), trainable=False,
                                        name=f"kernel_{i}") for i, k in enumerate(kernels)]
            self.biases = [tf.Variable(np.asarray(b, np.float64), trainable=False,
                                       name=f"bias_{i}") for i, b in enumerate(biases)]
            self.kernel_exponents = tf.Variable(np.asarray(kernel_exponents, np.int32),
                                                trainable=False, name="kernel_exponents")
            self.input_levels = tf.Variable(np.asarray(input_levels, np.float64),
                                            trainable=False, name="input_levels")
        self._exponents = [int(e) for e in kernel_exponents]
        self._taps = [np.asarray(t, np.int64) for t in taps]
        self._offsets = [int(o) for o in offsets]
        self._strides = [int(s) for s in strides]
        self._activations = [str(a) for a in activations]

    @classmethod
    def from_layers(cls, layers, input_levels, input_scale=None, output_offset=None,
                    name="integer_transform"):
        """The integer form of trained up-sampling `SignalConv2D` layers.

        Args:
          layers: The layers, in order (e.g. a `HyperSynthesisTransform`'s).
          input_levels: Float `[L]`: the value each quantizer level stands for (its
            offset, through the channel's reconstruction), rounded to the fixed point.
          input_scale: Optional float `[cin]`: the input is multiplied by it per channel
            (folded into the first kernel, e.g. a variable-rate model's inverse gains).
          output_offset: Optional float `[cout]` added to the output (folded into the
            last bias).
          name: Module name.

        Raises:
          ValueError: For a layer this cannot express, or a kernel or bias too large
            for exact arithmetic.
        """
        layers = list(layers)
        kernels, biases, exponents, taps, offsets, strides, activations = ([] for _ in range(7))
        for i, layer in enumerate(layers):
            kernel = _float_kernel(layer)
            bias = (np.asarray(layer.bias.numpy(), np.float64) if layer.use_bias
                    else np.zeros(kernel.shape[-1]))
            if i == 0 and input_scale is not None:
                kernel = kernel * np.asarray(input_scale, np.float64)[:, None]
            if i == len(layers) - 1 and output_offset is not None:
                bias = bias + np.asarray(output_offset, np.float64)
            peak = float(np.max(np.abs(kernel)))
            exponent = KERNEL_BITS - 1 - (math.floor(math.log2(peak)) if peak > 0 else 0)
            if np.max(np.abs(np.round(np.ldexp(kernel, exponent)))) >= 2**KERNEL_BITS:
                exponent -= 1  # The peak rounded up to 2^15.
            kernel_int = np.round(np.ldexp(kernel, exponent))
            bias_int = np.round(np.ldexp(bias, exponent + ACTIVATION_BITS))
            bound = np.abs(kernel_int).sum(axis=(0, 1, 2)) * _LIMIT + np.abs(bias_int)
            if exponent < 1 or np.max(bound) >= _EXACT:
                raise ValueError(f"IntegerTransform: {layer.name} is too large for exact "
                                 "float64 sums")
            layer_taps, offset = upsampling_taps(layer)
            kernels.append(kernel_int)
            biases.append(bias_int)
            exponents.append(exponent)
            taps.append(layer_taps)
            offsets.append(offset)
            strides.append(layer.strides_up[0])
            activations.append(_activation_kind(layer.activation))
        levels = np.round(np.ldexp(np.asarray(input_levels, np.float64), ACTIVATION_BITS))
        return cls(kernels, biases, exponents, taps, offsets, strides, activations, levels,
                   name=name)

    @property
    def num_levels(self):
        return int(self.input_levels.shape[0])

    def _submatrix(self, i):
        """Layer `i`'s kernel as the `[T*T*cin, s*s*cout]` matrix of its patches."""
        kernel = subpixel_kernel(tf.cast(self.kernels[i], tf.float64), self._taps[i])
        return tf.reshape(kernel, [-1, kernel.shape[-1]])

    def _layer(self, i, values):
        """One layer on integer activations `[B, H, W, cin]` (float64)."""
        taps, d, s = self._taps[i], self._offsets[i], self._strides[i]
        t = taps.shape[0]
        shape = tf.shape(values)
        b, h, w = shape[0], shape[1], shape[2]
        pad = [[0, 0], [max(-d, 0), max(d + t - 1, 0)], [max(-d, 0), max(d + t - 1, 0)],
               [0, 0]]
        padded = tf.pad(values, pad)
        start = max(-d, 0) + d
        patches = tf.concat([padded[:, start + a:start + a + h, start + c:start + c + w, :]
                             for a in range(t) for c in range(t)], axis=-1)
        cout = self.kernels[i].shape[-1]
        sums = tf.matmul(tf.reshape(patches, [-1, patches.shape[-1]]), self._submatrix(i))
        sums = tf.reshape(sums, [b, h, w, s, s, cout])
        sums = tf.reshape(tf.transpose(sums, (0, 1, 3, 2, 4, 5)), [b, h * s, w * s, cout])
        sums += self.biases[i]
        # Back to the activation scale: the products are at 2^-(e + ACTIVATION_BITS).
        shift = float(2**self._exponents[i])
        out = tf.math.floor((sums + shift / 2) / shift)
        if self._activations[i] == "leaky_relu":
            out = tf.where(out < 0, tf.math.floor(out * LEAKY_SLOPE / 2.0**16), out)
        elif self._activations[i] == "relu":
            out = tf.maximum(out, 0.0)
        return tf.clip_by_value(out, -_LIMIT, _LIMIT)

    def __call__(self, symbols, levels):
        """The transform of quantized inputs, at the fixed point.

        Args:
          symbols: Integer-valued float tensor `[B, H, W, cin]` (clipped here to
            `+-ACTIVATION_LIMIT`).
          levels: int32 quantizer level of each symbol, same shape (or a scalar).

        Returns:
          float64 integers `[B, sH, sW, cout]`: the output times `2^ACTIVATION_BITS`.
        """
        symbols = tf.clip_by_value(tf.cast(symbols, tf.float64), -ACTIVATION_LIMIT,
                                   ACTIVATION_LIMIT)
        values = symbols * 2.0**ACTIVATION_BITS + tf.gather(self.input_levels, levels)
        for i in range(len(self.kernels)):
            values = self._layer(i, values)
        return values
