"""How often table indexes differ between ways of computing them: float against integer.

    python scripts/index_determinism.py --models=hyperprior-0.0105-un-q,hyperprior-0.013-un-uq-sr \
      --eval_dir=../shared/data/valid --output=docs/index_determinism.md

For each image the model's quantized hyper-latents are computed once; then the table
index of every latent (the scale index the hyper-synthesis predicts, rounded to a
table) is computed by

* the float hyper-synthesis in four arithmetics that a decoder may have: TensorFlow's
  kernels (oneDNN), the same under XLA, tfc's own `SignalConv2D` (kernels by
  `irfft2d`), and float64 (the closest to exact);
* the integer hyper-synthesis (`tfnq.layers.IntegerTransform`, what numerics-3
  exports code with), plainly and under XLA.

It reports, per model, the fraction of latents whose float32 index differs in any bit
between two float arithmetics, the fraction whose table differs (a file decoded with
the other arithmetic goes wrong from there on), and the same for the two integer
runs (zero by construction); and how far the integer path is from float64: tables
that differ and the largest difference of mean and index.
"""

import os

from tfnq import runtime

runtime.configure(log_level="2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402  (before app.run: see benchmark_reference.py)
import tensorflow_compression as tfc  # noqa: E402
from absl import app, flags  # noqa: E402

from tfnq import coding_config, data, export, image_io, layers, layout, registry  # noqa: E402
from tfnq.models import padding  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["hyperprior-0.0105-un-q"], "Hyperprior models (names or paths).")
flags.DEFINE_string("eval_dir", "../shared/data/valid", "Folder, glob or comma list of images.")
flags.DEFINE_integer("max_images", 0, "Use at most this many images (0: all).")
flags.DEFINE_string("output", None, "Also write the markdown table here.")


def _tfc_layers(layers_):
    """tfc's own SignalConv2D with the same variables (kernels by irfft2d)."""
    clones = []
    for layer in layers_:
        clone = tfc.SignalConv2D.from_config(layer.get_config())
        clone.build([None, None, None, layer.kernel.shape[2]])
        for target, source in zip(clone.weights, layer.weights, strict=True):
            target.assign(source)
        clones.append(clone)
    return clones


def _float_runs(model, w_hat):
    """Float32 index `[..., M]` by each float arithmetic, and the float64 index/mean."""
    stack = model.hyper_synthesis.layers

    def run(ls, x):
        for layer in ls:
            x = layer(x)
        return x

    eager = run(stack, w_hat)
    xla = tf.function(lambda x: run(stack, x), jit_compile=True)(w_hat)
    reference = run(_tfc_layers(stack), w_hat)
    wide = w_hat.numpy().astype(np.float64)
    for layer in stack:  # float64 numpy, the same taps as IntegerTransform.
        kernel = layers.integer_transform._float_kernel(layer)
        bias = layer.bias.numpy().astype(np.float64)
        wide = _float64_layer(layer, kernel, bias, wide)
    m = model.num_latents
    return ({"TF (oneDNN)": eager.numpy()[..., m:], "XLA": xla.numpy()[..., m:],
             "tfc irfft2d": reference.numpy()[..., m:]}, wide[..., m:], wide[..., :m])


def _float64_layer(layer, kernel, bias, x):
    taps, d = layers.integer_transform.upsampling_taps(layer)
    t, s = taps.shape[0], taps.shape[2]
    b, h, w, _ = x.shape
    out = np.zeros([b, h * s, w * s, kernel.shape[-1]])
    flat = kernel.reshape(-1, *kernel.shape[2:])
    for a in range(t):
        for c in range(t):
            off_y, off_x = a + d, c + d
            shifted = np.zeros_like(x)
            shifted[:, max(-off_y, 0):h - max(off_y, 0), max(-off_x, 0):w - max(off_x, 0)] = \
                x[:, max(off_y, 0):h + min(off_y, 0), max(off_x, 0):w + min(off_x, 0)]
            for py in range(s):
                for px in range(s):
                    if taps[a, c, py, px] >= 0:
                        out[:, py::s, px::s] += shifted @ flat[taps[a, c, py, px]]
    out += bias
    if layer.activation is tf.nn.leaky_relu:
        out = np.where(out < 0, 0.2 * out, out)
    return out


def _rows(index, num_scales):
    return np.clip(np.round(index), 0, num_scales - 1)


def main(argv):
    del argv
    files = data.list_files(FLAGS.eval_dir)
    if FLAGS.max_images:
        files = files[:FLAGS.max_images]
    lines = ["| model | latents | float pair | index bits differ | tables differ |",
             "| --- | --- | --- | --- | --- |"]
    summary = ["| model | integer plain vs XLA: tables differ | integer vs float64: tables "
               "differ | max index diff | max mean diff |", "| --- | --- | --- | --- | --- |"]
    for name in FLAGS.models:
        path = registry.resolve(name)
        model = export.restore_model(path)
        model.prepare_coding(coding_config.CodingConfig.from_json(
            layout.read_metadata(path)["coding_config"]))
        codec = model.latent_codec
        hyper_coding, _ = codec.coding_models
        integer_xla = tf.function(codec._decoder_parameters, jit_compile=True)
        counts = {}
        total = 0
        int_pair = int_vs_wide = 0
        max_index = max_mean = 0.0
        for f in files:
            image = image_io.read_image(f)
            x = padding.pad_image(tf.constant(image), model.downsampling)
            w_hat = hyper_coding.quantize(codec._hyper_latents(model.analyze(x), None))
            floats, wide_index, wide_mean = _float_runs(model, codec.channel.decode(w_hat))
            names = list(floats)
            for i, a in enumerate(names):
                for b in names[i + 1:]:
                    bits, tables = counts.setdefault((a, b), [0, 0])
                    counts[(a, b)] = [
                        bits + int(np.sum(floats[a] != floats[b])),
                        tables + int(np.sum(_rows(floats[a], model.num_scales)
                                            != _rows(floats[b], model.num_scales)))]
            mean, index = codec._decoder_parameters(w_hat)
            _, index_xla = integer_xla(w_hat)
            index, mean = index.numpy()[..., 0], mean.numpy()
            int_pair += int(np.sum(_rows(index, model.num_scales)
                                   != _rows(index_xla.numpy()[..., 0], model.num_scales)))
            int_vs_wide += int(np.sum(_rows(index, model.num_scales)
                                      != _rows(wide_index, model.num_scales)))
            max_index = max(max_index, float(np.max(np.abs(
                index - np.clip(wide_index, -1, model.num_scales)))))
            max_mean = max(max_mean, float(np.max(np.abs(mean - wide_mean))))
            total += index.size
        label = os.path.basename(os.path.dirname(os.path.normpath(path)))
        for (a, b), (bits, tables) in counts.items():
            lines.append(f"| {label} | {total} | {a} / {b} | {bits / total:.2%} | "
                         f"{tables} ({tables / total:.4%}) |")
        summary.append(f"| {label} | {int_pair} | {int_vs_wide} ({int_vs_wide / total:.4%}) | "
                       f"{max_index:.2e} | {max_mean:.2e} |")
        print("\n".join(lines[-len(counts):] + summary[-1:]), flush=True)
    text = (f"Images: {len(files)} from `{FLAGS.eval_dir}`.\n\n" + "\n".join(lines) + "\n\n"
            + "\n".join(summary) + "\n")
    print(text)
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            f.write(text)


if __name__ == "__main__":
    app.run(main)
