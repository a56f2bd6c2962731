"""Where a hyperprior's decode time goes, against the synthesis arithmetic's floor.

    python scripts/benchmark_decode.py [--model hyperprior-0.0105-un-q] [--size 768x512]
        [--repeats 10] [--output docs/decode_speed.md]

Issue 11 asks for a 768x512 `decompress` within 2x of the floor that the synthesis
transform's arithmetic sets on this CPU. This measures, for TensorFlow's CPU kernels
as it picks them by itself (`TF_ENABLE_ONEDNN_OPTS` unset: oneDNN only on CPUs with
AVX-512 VNNI/BF16 or AMX) and with oneDNN on (`=1`, what `tfnq.runtime` sets for
tfnq's programs), each in a process of its own (TensorFlow reads the switch once):

* the CPU's attainable float32 rate: a 2048^3 matrix product, best of `--repeats`
  (and its bfloat16 rate, for comparison: AMX where the CPU has it);
* the synthesis' arithmetic, counted from its layers: a transposed convolution of
  support `k x k` and stride `s` makes `k^2 / s^2` multiply-adds per output value and
  input channel, an inverse GDN `C^2` per position (its `1 x 1` convolution); the
  floor is that count at the attainable rate;
* every synthesis layer alone (as trained: tfc's `SignalConv2D` with explicit
  padding), the whole synthesis, and the same synthesis with each up-sampling layer
  as one 3x3 convolution onto the sub-pixel phases and a `depth_to_space`
  (`tfnq.layers.SubpixelTransform`, what exports decode with: the same linear map;
  the script checks the difference), in float32 and in bfloat16;
* the exact hyper-synthesis that selects the coding tables
  (`tfnq.layers.IntegerTransform`, float64 sums of integers);
* the whole `decompress` of the packaged photo resized to `--size`, as `tfnq.load`
  runs it (XLA form of the rANS coder) and through the SavedModel's plain
  `decompress` signature (what stock TensorFlow Serving runs), and, for an export
  with a bfloat16 synthesis, `tfnq.load(path, precision="bfloat16")`.

Times are medians of `--repeats` calls after a warm-up, on random latents of the
image's size for the transforms (values do not change the time). Say what else ran on
the machine when quoting them.
"""

import json
import os
import subprocess
import sys
import time

# Not tfnq.runtime.configure(): each measuring process keeps TF_ENABLE_ONEDNN_OPTS as
# this script's parent process set it (or left it unset).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402  (before app.run: see benchmark_reference.py)
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "hyperprior-0.0105-un-q", "A hyperprior model (name or path).")
flags.DEFINE_string("size", "768x512", "Image width x height.")
flags.DEFINE_integer("repeats", 10, "Timed calls of each operation.")
flags.DEFINE_string("output", None, "Also write the report (markdown) to this file.")
flags.DEFINE_string("run", None, "Internal: measure with TF_ENABLE_ONEDNN_OPTS as set "
                    "and print JSON.")

CONFIGS = {"TensorFlow's choice": None, "oneDNN on": "1"}


def _median_ms(fn, *args):
    fn(*args)
    times = []
    for _ in range(FLAGS.repeats):
        t = time.perf_counter()
        out = fn(*args)
        if hasattr(out, "numpy"):
            out.numpy()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def _cpu():
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return dict(name="unknown", features=[])
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
    flags_ = fields.get("flags", "").split()
    return dict(name=f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')}, "
                     f"model {fields.get('model', '?')})",
                features=[f for f in wanted if f in flags_])


def _layer_flops(layer, output_shape):
    """Multiply-adds x 2 of one synthesis layer for one output of `output_shape`."""
    _, h, w, cout = output_shape
    kh, kw = layer.kernel_support
    sh, sw = layer.strides_up
    cin = layer.kernel.shape[2]
    conv = 2.0 * h * w * cout * cin * kh * kw / (sh * sw)
    gdn = 2.0 * h * w * cout * cout if layer.activation is not None and hasattr(
        layer.activation, "gamma") else 0.0
    return conv, gdn


def measure():
    from tensorflow.python.util import _pywrap_util_port

    from tfnq import client, export, image_io, layers, layout, registry

    path = registry.resolve(FLAGS.model)
    width, height = (int(v) for v in FLAGS.size.split("x"))
    result = dict(cpu=_cpu(), onednn=bool(_pywrap_util_port.IsMklEnabled()),
                  tensorflow=tf.__version__, cores=os.cpu_count())

    a = tf.random.normal([2048, 2048])
    matmul = tf.function(lambda a: tf.matmul(a, a))
    matmul(a)
    best = min(_median_ms(matmul, a) for _ in range(3))
    result["gflops"] = 2 * 2048**3 / best / 1e6

    model = export.restore_model(path)
    synthesis = model.synthesis
    x = tf.random.normal([1, height // 16, width // 16, model.num_latents])
    rows = []
    for i, layer in enumerate(synthesis.layers):
        fn = tf.function(lambda v, layer=layer: layer(v))
        y = fn(x)
        conv, gdn = _layer_flops(layer, y.shape)
        # The layer as the bfloat16 decoder runs it (the last in float32), and its
        # nonlinearity (an inverse GDN: float32 in either form) alone.
        last = i == len(synthesis.layers) - 1
        alone = layers.SubpixelTransform([layer], float32_layers=(0,) if last else ())
        low = tf.function(lambda v, alone=alone: alone(v, bfloat16=True))
        activation = tf.function(lambda v, layer=layer: layer.activation(v))
        rows.append(dict(layer=layer.name, input=list(x.shape[1:]), output=list(y.shape[1:]),
                         gflop=(conv + gdn) / 1e9, ms=_median_ms(fn, x),
                         bf16_ms=_median_ms(low, x),
                         activation_ms=_median_ms(activation, y) if gdn else 0.0))
        x = y
    result["layers"] = rows
    latents = tf.random.normal([1, height // 16, width // 16, model.num_latents])
    subpixel = layers.SubpixelTransform(synthesis.layers)
    layers_form = tf.function(lambda v: synthesis(v))
    subpixel_form = tf.function(lambda v: subpixel(v))
    subpixel_bf16 = tf.function(lambda v: subpixel(v, bfloat16=True))
    result["synthesis_ms"] = _median_ms(layers_form, latents)
    result["subpixel_ms"] = _median_ms(subpixel_form, latents)
    result["subpixel_bf16_ms"] = _median_ms(subpixel_bf16, latents)
    reference = layers_form(latents)
    result["subpixel_difference"] = float(tf.reduce_max(tf.abs(reference
                                                                - subpixel_form(latents))))
    result["subpixel_bf16_difference"] = float(tf.reduce_max(tf.abs(
        reference - subpixel_bf16(latents))))
    bf16 = tf.random.normal([2048, 2048], dtype=tf.float32)
    bf16 = tf.cast(bf16, tf.bfloat16)
    matmul(bf16)
    result["gflops_bf16"] = 2 * 2048**3 / min(_median_ms(matmul, bf16) for _ in range(3)) / 1e6

    hyper = layers.IntegerTransform.from_layers(
        model.latent_codec.hyper_synthesis.layers, np.zeros([1]))
    symbols = tf.round(tf.random.normal([1, height // 64, width // 64,
                                         hyper.kernels[0].shape[2]]))
    integer = tf.function(lambda s: hyper(s, tf.zeros_like(s, tf.int32)))
    result["hyper_synthesis_ms"] = _median_ms(integer, symbols)

    image = image_io.sample_image((width, height))
    codec = client.load(path)
    data = codec.compress(image)
    result["decompress_ms"] = _median_ms(codec.decompress, data)
    if "bfloat16" in codec.metadata.get("synthesis_dtypes", []):
        low = client.load(path, precision="bfloat16")
        result["decompress_bf16_ms"] = _median_ms(low.decompress, data)
        result["bf16_max_level_difference"] = int(np.max(np.abs(
            low.decompress(data).astype(int) - codec.decompress(data).astype(int))))
    loaded = tf.saved_model.load(layout.version_dir(path))
    plain = loaded.signatures["decompress"]
    result["decompress_plain_ms"] = _median_ms(
        lambda d: plain(bitstring=tf.constant(d))["image"], data)
    return result


def report(results):
    first = next(iter(results.values()))
    gflop = sum(r["gflop"] for r in first["layers"])
    lines = [
        f"{FLAGS.model}, {FLAGS.size}; CPU: {first['cpu']['name']}, {first['cores']} cores, "
        f"features {', '.join(first['cpu']['features']) or 'none of note'}; "
        f"TensorFlow {first['tensorflow']}; median of {FLAGS.repeats} calls.",
        "",
        f"Synthesis arithmetic: {gflop:.2f} GFLOP (counted from the layers).",
        "",
        "| | " + " | ".join(results) + " |",
        "|---|" + "---|" * len(results),
    ]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(fn(r) for r in results.values()) + " |")

    row("oneDNN kernels", lambda r: "yes" if r["onednn"] else "no")
    row("float32 rate, 2048^3 matmul (GFLOP/s)", lambda r: f"{r['gflops']:.0f}")
    row("floor: synthesis GFLOP at that rate (ms)",
        lambda r: f"{1000 * gflop / r['gflops']:.1f}")
    for i, layer in enumerate(first["layers"]):
        row(f"{layer['layer']} {layer['input']} -> {layer['output']}, "
            f"{layer['gflop']:.2f} GFLOP (ms)", lambda r, i=i: f"{r['layers'][i]['ms']:.1f}")
    for i, layer in enumerate(first["layers"]):
        row(f"{layer['layer']} as the bfloat16 decoder runs it (ms)",
            lambda r, i=i: f"{r['layers'][i]['bf16_ms']:.1f}")
        if layer["activation_ms"]:
            row(f"{layer['layer']}: its inverse GDN alone, float32 (ms)",
                lambda r, i=i: f"{r['layers'][i]['activation_ms']:.1f}")
    row("synthesis (ms)", lambda r: f"{r['synthesis_ms']:.1f}")
    row("synthesis, sub-pixel form (ms)", lambda r: f"{r['subpixel_ms']:.1f}")
    row("synthesis, sub-pixel form, bfloat16 (ms)", lambda r: f"{r['subpixel_bf16_ms']:.1f}")
    row("bfloat16 rate, 2048^3 matmul (GFLOP/s)", lambda r: f"{r['gflops_bf16']:.0f}")
    row("exact hyper-synthesis, float64 (ms)", lambda r: f"{r['hyper_synthesis_ms']:.1f}")
    row("`decompress`, `tfnq.load` (XLA rANS) (ms)", lambda r: f"{r['decompress_ms']:.1f}")
    row("`decompress` signature (plain rANS) (ms)",
        lambda r: f"{r['decompress_plain_ms']:.1f}")
    row("`decompress` / floor", lambda r: f"{r['decompress_ms'] * r['gflops'] / 1000 / gflop:.2f}")
    if "decompress_bf16_ms" in first:
        row("`decompress`, `tfnq.load(precision=\"bfloat16\")` (XLA rANS) (ms)",
            lambda r: f"{r['decompress_bf16_ms']:.1f}")
        row("bfloat16 `decompress` / float32 floor",
            lambda r: f"{r['decompress_bf16_ms'] * r['gflops'] / 1000 / gflop:.2f}")
    lines.append("")
    lines.append(f"Sub-pixel form against the layers (0-1 scale): max |difference| "
                 f"{first['subpixel_difference']:.2g} in float32, "
                 f"{first['subpixel_bf16_difference']:.2g} in bfloat16.")
    if "bf16_max_level_difference" in first:
        lines.append(f"bfloat16 against float32 `decompress` of the photo: at most "
                     f"{first['bf16_max_level_difference']} levels apart.")
    return "\n".join(lines)


def main(argv):
    del argv
    if FLAGS.run is not None:
        print(json.dumps(measure()))
        return 0
    results = {}
    for label, value in CONFIGS.items():
        env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
        if value is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = value
        command = [sys.executable, os.path.abspath(__file__), "--run=1",
                   f"--model={FLAGS.model}", f"--size={FLAGS.size}",
                   f"--repeats={FLAGS.repeats}"]
        process = subprocess.run(command, capture_output=True, text=True, env=env)
        if process.returncode:
            sys.stderr.write(process.stderr[-3000:])
            return 1
        results[label] = json.loads(process.stdout.strip().splitlines()[-1])
    text = report(results)
    print(text)
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
