"""The synthesis transform as transposed convolutions (the layers) or sub-pixel ones.

    python scripts/benchmark_subpixel.py --model=hyperprior-0.0105-un-q --size=768x512

Issue 11 asks for a 768x512 decode within 2x of the synthesis' arithmetic floor and
names sub-pixel convolutions as one candidate. This runs the model's synthesis both
ways on random latents of the image's size: the layers as trained (tfc's
`SignalConv2D`, a `Conv2DBackpropInput` per layer with oneDNN), and each up-sampling
layer as one 3x3 `Conv2D` onto the four sub-pixel phases followed by `depth_to_space`
(taps from `tfnq.layers.integer_transform.upsampling_taps`; the same linear map, which
the script checks), alternating, median of `--repeats` calls each.
"""

import time

from tfnq import runtime

runtime.configure(log_level="2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402  (before app.run: see benchmark_reference.py)
from absl import app, flags  # noqa: E402

from tfnq import export, registry  # noqa: E402
from tfnq.layers import integer_transform  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "hyperprior-0.0105-un-q", "A hyperprior model (name or path).")
flags.DEFINE_string("size", "768x512", "Image width x height.")
flags.DEFINE_integer("repeats", 15, "Calls of each form.")


def _subpixel_kernel(layer):
    taps, offset = integer_transform.upsampling_taps(layer)
    if taps.shape[0] != 3 or offset != -1:
        raise ValueError(f"{layer.name}: not a 3x3-patch layer")
    kernel = layer.kernel.numpy()
    kh, kw, cin, cout = kernel.shape
    flat = np.concatenate([kernel.reshape(kh * kw, cin, cout), np.zeros([1, cin, cout],
                                                                        kernel.dtype)])
    gathered = flat[np.where(taps >= 0, taps, kh * kw)]  # [3, 3, s, s, cin, cout]
    s = taps.shape[2]
    return tf.constant(np.transpose(gathered, (0, 1, 4, 2, 3, 5)).reshape(3, 3, cin,
                                                                          s * s * cout))


def main(argv):
    del argv
    model = export.restore_model(registry.resolve(FLAGS.model))
    width, height = (int(v) for v in FLAGS.size.split("x"))
    synthesis = model.synthesis
    kernels = [_subpixel_kernel(layer) for layer in synthesis.layers]
    latents = tf.random.normal([1, height // 16, width // 16, model.num_latents])

    @tf.function
    def layers_form(x):
        return synthesis(x)

    @tf.function
    def subpixel_form(x):
        for layer, kernel in zip(synthesis.layers, kernels, strict=True):
            x = tf.nn.depth_to_space(tf.nn.conv2d(x, kernel, 1, "SAME"),
                                     layer.strides_up[0]) + layer.bias
            if layer.activation is not None:
                x = layer.activation(x)
        return x

    difference = float(tf.reduce_max(tf.abs(layers_form(latents) - subpixel_form(latents))))
    times = {"transposed (layers)": [], "sub-pixel": []}
    for _ in range(FLAGS.repeats):
        for name, fn in (("transposed (layers)", layers_form), ("sub-pixel", subpixel_form)):
            t = time.perf_counter()
            fn(latents).numpy()
            times[name].append(time.perf_counter() - t)
    print(f"{FLAGS.model}, {FLAGS.size}, max |difference| {difference:.2g}")
    for name, values in times.items():
        print(f"{name}: median {1000 * np.median(values):.1f} ms")


if __name__ == "__main__":
    app.run(main)
