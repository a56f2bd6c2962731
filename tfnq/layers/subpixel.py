"""A trained up-sampling stack as sub-pixel convolutions, in float32 or bfloat16.

A transposed convolution of stride `s` is the same linear map as one ordinary
convolution onto the `s^2` sub-pixel phases of its output, followed by a
depth-to-space rearrangement (Shi et al., "Real-Time Single Image and Video
Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network", CVPR
2016, Sec. 2.2; Dumoulin & Visin, "A guide to convolution arithmetic for deep
learning", 2016, Sec. 4). Which kernel tap feeds which phase is read off the trained
layer itself (`upsampling_taps`), so the map is the
layer's, borders included; only float rounding differs (about `4e-7` on a
hyperprior's synthesis).

Why a decoder wants this form: tfc's `SignalConv2D` runs its transposed
convolutions with explicit padding, which oneDNN runs slowly in float32 and has no
bfloat16 kernel for at all (TensorFlow then emulates it, some 300 times slower),
while an ordinary `SAME` convolution has fast kernels everywhere: oneDNN's AMX and
AVX-512 BF16 kernels, Eigen's, cuDNN's (`scripts/benchmark_decode.py`,
docs/decode_speed.md). In bfloat16 the convolutions take bfloat16 inputs and kernels
and accumulate in float32 (oneDNN, cuDNN); their outputs are rounded to bfloat16
(8 significant bits) and everything after them, biases and nonlinearities (an
inverse GDN), stays float32, as does every layer named in `float32_layers` (by
default the last, whose output is the image).

The transform holds the trained layers themselves and computes each layer's
sub-pixel kernel from the layer's kernel on every call (a gather: nothing is stored
twice), so it adds no variable to a model or an export.
"""

import numpy as np
import tensorflow as tf

__all__ = ["SubpixelTransform", "subpixel_kernel", "upsampling_taps"]


def upsampling_taps(layer):
    """Which kernel tap feeds which sub-pixel output of an up-sampling `SignalConv2D`.

    Output pixel `s * i + p` (per axis, `s = strides_up`) of the layer is a sum over
    input pixels `i + d`, `d` in `[d_min, d_min + T)`. Read off the layer's own
    arithmetic: the layer's convolution with a kernel whose taps are numbered
    `1 .. kh * kw` is applied to a unit impulse (one nonzero product per output, so
    the float output is the tap number exactly).

    Args:
      layer: A `tfc.SignalConv2D` (or tfnq's) with `strides_down` 1.

    Returns:
      `(taps, d_min)`: int array `[T, T, s, s]` of flattened kernel tap numbers
      (`-1`: no tap), and the offset of the first input row/column.

    Raises:
      ValueError: If the layer down-samples, or its output size is not `s` times its
        input size.
    """
    from tfnq.layers.signal_conv import SignalConv2D  # Not at import: a layer module.

    if tuple(layer.strides_down) != (1, 1):
        raise ValueError("the sub-pixel form takes layers without down-sampling")
    kh, kw = layer.kernel_support
    sy, sx = layer.strides_up
    if (kh, kw) != (kw, kh) or sy != sx:
        raise ValueError("the sub-pixel form takes square kernels and strides")
    k, s = kh, sy
    probe = SignalConv2D(1, (k, k), corr=layer.corr, strides_up=s, padding=layer.padding,
                         extra_pad_end=layer.extra_pad_end, use_bias=False,
                         kernel_parameter="variable", dtype=tf.float32)
    probe.build([None, None, None, 1])
    probe.kernel_parameter.assign(
        np.arange(1, k * k + 1, dtype=np.float32).reshape(k, k, 1, 1))
    size, center = 4 * k + 1, 2 * k
    impulse = np.zeros([1, size, size, 1], np.float32)
    impulse[0, center, center, 0] = 1
    out = probe(impulse).numpy()[0, :, :, 0]
    if out.shape != (s * size, s * size):
        raise ValueError(f"tfnq: {layer.name} maps {size} pixels to "
                         f"{out.shape[0]}, not {s * size}")
    span = range(-k, k + 1)
    taps = np.full([len(span), len(span), s, s], -1, np.int64)
    for a, dy in enumerate(span):
        for b, dx in enumerate(span):
            for py in range(s):
                for px in range(s):
                    value = out[s * (center - dy) + py, s * (center - dx) + px]
                    if value:
                        taps[a, b, py, px] = int(value) - 1
    used = np.flatnonzero((taps >= 0).any(axis=(1, 2, 3)))
    taps = taps[used[0]:used[-1] + 1][:, used[0]:used[-1] + 1]
    if sorted(taps[taps >= 0].tolist()) != list(range(k * k)):
        raise ValueError(f"tfnq: the taps of {layer.name} are not a "
                         "partition of its kernel")
    return taps, int(span[used[0]])


def subpixel_kernel(kernel, taps):
    """A transposed convolution's kernel as the kernel of its sub-pixel convolution.

    Args:
      kernel: `[k, k, cin, cout]` kernel of an up-sampling layer (a tensor).
      taps: `[T, T, s, s]` int array, `upsampling_taps(layer)[0]`: the flattened tap
        of `kernel` that input offset `(a, b)` contributes to output phase `(p, q)`
        (`-1`: none).

    Returns:
      `[T, T, cin, s * s * cout]`: output channel `(p * s + q) * cout + c` is phase
      `(p, q)` of channel `c` (the order of `tf.nn.depth_to_space`).
    """
    kh, kw, cin, cout = kernel.shape
    taps = np.asarray(taps)
    t, s = taps.shape[0], taps.shape[2]
    flat = tf.concat([tf.reshape(kernel, [kh * kw, cin, cout]),
                      tf.zeros([1, cin, cout], kernel.dtype)], axis=0)
    gathered = tf.gather(flat, np.where(taps >= 0, taps, kh * kw))  # [T,T,s,s,cin,cout]
    return tf.reshape(tf.transpose(gathered, (0, 1, 4, 2, 3, 5)), [t, t, cin, s * s * cout])


class SubpixelTransform:
    """Trained up-sampling `SignalConv2D` layers as sub-pixel convolutions.

    `SubpixelTransform(layers)(x)` equals `x` through the layers in sequence up to
    float rounding, in float32; `bfloat16=True` runs the convolutions of all layers
    but `float32_layers` in bfloat16 (module docstring). A plain callable, not a
    `tf.Module`: it owns no variables (the layers' belong to their model), so a Keras
    model can hold it without it entering the model's checkpoints.
    """

    def __init__(self, layers, float32_layers=(-1,)):
        """Initializer.

        Args:
          layers: Trained up-sampling layers (`tfc.SignalConv2D` or tfnq's, strides
            down 1), in order; e.g. a `SynthesisTransform`'s. They are used, not
            copied.
          float32_layers: Indexes of layers whose convolutions stay float32 in the
            bfloat16 form.

        Raises:
          ValueError: For a layer that does not up-sample by its stride exactly (see
            `upsampling_taps`), or whose taps are not centred (what `SAME` padding
            computes: every `SignalConv2D` with an odd kernel and "same_zeros").
        """
        self._layers = list(layers)
        self._taps = []
        for layer in self._layers:
            taps, offset = upsampling_taps(layer)
            if 2 * offset != 1 - taps.shape[0]:
                raise ValueError(f"tfnq: the taps of {layer.name} are not centred")
            self._taps.append(taps)
        self._float32 = {i % len(self._layers) for i in float32_layers}

    def _layer(self, i, values, dtype):
        layer, taps = self._layers[i], self._taps[i]
        s = taps.shape[2]
        kernel = tf.cast(subpixel_kernel(tf.cast(layer.kernel, tf.float32), taps), dtype)
        out = tf.nn.conv2d(tf.cast(values, dtype), kernel, 1, "SAME")  # Centred taps.
        out = tf.cast(out, tf.float32)
        if s > 1:
            out = tf.nn.depth_to_space(out, s)
        if layer.use_bias:
            out = tf.nn.bias_add(out, tf.cast(layer.bias, tf.float32))
        if layer.activation is not None:
            out = layer.activation(out)
        return out

    def __call__(self, values, bfloat16=False):
        """The layers' output (float32) for float input `[B, H, W, cin]`.

        Args:
          values: The input.
          bfloat16: Run the convolutions (but those of `float32_layers`) in bfloat16:
            a Python bool, or a bool tensor (both forms are traced and the value picks
            one at run time).
        """
        values = tf.convert_to_tensor(values, tf.float32)

        def run(low):
            out = values
            for i in range(len(self._layers)):
                dtype = tf.bfloat16 if low and i not in self._float32 else tf.float32
                out = self._layer(i, out, dtype)
            return out

        if tf.is_tensor(bfloat16):
            return tf.cond(bfloat16, lambda: run(True), lambda: run(False))
        return run(bool(bfloat16))
