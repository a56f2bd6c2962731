"""tfnq's entropy coders on the same model: tfc's range coder (custom ops), rANS in
core TF ops (plain and XLA forms) and ANS (`constriction`, outside the graph).

    python scripts/benchmark_coders.py [--models NAME,...] [--sizes 768x512,4896x3264]
        [--coders range,rans,rans-xla,ans] [--repeats 5] [--output docs/coders.md]
        [--nowhole] [--clock wall|cpu]

Two tables:
* the coders alone, on the symbols of the latents (the big section) of each image:
  bytes per symbol against the information content under the model's tables, and
  encode / decode time per symbol (`tf.function`s over the very same symbols, rows
  and tables);
* whole `compress` / `decompress` of each model, exported again with the same weights
  and tables for each coder (so all code the very same symbols), loaded as a user
  would: `tfnq.load` (range, ans) or the SavedModel's own signatures (`compress` /
  `decompress`: the plain form; `compress_xla` / `decompress_xla`), with file sizes
  and whether every coder decodes the same image.
Images: the packaged sample photo resized to each of `--sizes` (width x height).
Times are medians over `--repeats` runs after a warm-up, in one process on this
machine's CPU (say what else ran beside it when you quote them).
"""

import os
import sys
import tempfile
import time

from tfnq import runtime

runtime.configure()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402  (before app.run: see benchmark_reference.py)
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", None, "Model names or paths (default: the default model).")
flags.DEFINE_list("sizes", ["768x512"], "Image sizes, width x height.")
flags.DEFINE_list("coders", ["range", "rans", "rans-xla", "ans"], "Coders to compare.")
flags.DEFINE_integer("repeats", 5, "Timed runs per operation and image.")
flags.DEFINE_string("output", None, "Also write the tables (markdown) to this file.")
flags.DEFINE_bool("whole", True, "Also time whole compress / decompress (each model "
                  "exported again for each coder); without it, only the coders alone, on "
                  "the symbols of the model as it is (which must code with rANS).")
flags.DEFINE_enum("clock", "wall", ["wall", "cpu"], "Time by the wall clock, or by the "
                  "process's CPU time (steadier where other work shares the machine; the "
                  "same for one-threaded work such as the coders alone).")

_CODER_OF = {"range": "range", "rans": "rans", "rans-xla": "rans", "ans": "ans"}


def _median_time(fn, arg, repeats):
    clock = time.process_time if FLAGS.clock == "cpu" else time.perf_counter
    out = fn(arg)  # Warm-up (and XLA's compilation for this shape).
    times = []
    for _ in range(repeats):
        t = clock()
        fn(arg)
        times.append(clock() - t)
    return float(np.median(times)), out


def _twin(path, coder, directory):
    """The export at `path` again, with the same weights and tables, coded with `coder`."""
    from tfnq import coding_config, export, layout
    metadata = layout.read_metadata(path)
    model = export.restore_model(path)
    rate = (metadata.get("coding") or {}).get("rate")
    config = coding_config.get_coding_config(metadata.get("coding_config") or metadata["mode"])
    config = config.with_coder(coder) if config.name else config.replace(coder=coder)
    return export.export_model(model, config, os.path.join(directory, coder, metadata["name"]),
                               rate=rate, tables=export.read_tables(path))


def _codecs(path, directory):
    """Coder name -> (compress, decompress, export path) on numpy images / bytes."""
    from tfnq import client
    twins, result = {}, {}
    for name in FLAGS.coders:
        coder = _CODER_OF[name]
        if coder not in twins:
            twins[coder] = _twin(path, coder, directory)
        if name in ("range", "ans"):
            codec = client.load(twins[coder])
            result[name] = (codec.compress, codec.decompress, twins[coder])
        else:
            module = tf.saved_model.load(twins[coder])
            suffix = "_xla" if name == "rans-xla" else ""
            encode, decode = getattr(module, "compress" + suffix), getattr(
                module, "decompress" + suffix)
            # (The lambdas hold the module: its functions need its variables alive.)
            result[name] = (lambda x, f=encode, m=module: f(x).numpy(),
                            lambda d, f=decode, m=module: f(tf.constant(d)).numpy(),
                            twins[coder])
    return result


def _coder_rows(path, image, label):
    """The coders alone on the latents' symbols of `image` (the last section)."""
    from tfnq import coders, export
    module = tf.saved_model.load(path)
    data = (module.compress_xla if hasattr(module, "compress_xla") else module.compress)(image)
    decoded = module.decompress_symbols(data)
    last = max(int(k.split("_")[1]) for k in decoded)
    symbols = decoded[f"symbols_{last}"][None]
    rows = decoded[f"rows_{last}"][None]
    tables = export.read_tables(path)[last]
    cdf, offset = tables.cdf, tables.cdf_offset
    # The information content under the tables: -log2 of each symbol's frequency.
    frequencies, offsets, precision = coders.parse_tables(cdf.numpy(), offset.numpy())
    s, r = symbols.numpy()[0], rows.numpy()[0]
    bits = 0.0
    for row in np.unique(r):
        f = frequencies[row]
        v = s[r == row] - offsets[row]
        inside = (v >= 0) & (v < f.size - 1)
        bits += float(np.sum(precision - np.log2(f[v[inside]])))
        bits += float(np.sum(~inside) * (precision - np.log2(f[-1])))
    count = s.size
    out = []
    candidates = {"range": coders.RangeCoder(), "rans": coders.RansCoder(jit_compile=False),
                  "rans-xla": coders.RansCoder(jit_compile=True)}
    for name in [c for c in FLAGS.coders if c in candidates]:
        coder = candidates[name]
        # The decode index is built once, as an entropy model stores it with its tables.
        index = coder.decode_index(cdf)
        index = {} if index is None else dict(decode_index=index)
        encode = tf.function(lambda x, c=coder: c.encode(x, rows, cdf, offset, 1))
        decode = tf.function(lambda x, c=coder, i=index: c.decode(x, rows, cdf, offset, **i))
        t_enc, strings = _median_time(encode, symbols, FLAGS.repeats)
        t_dec, (back, ok) = _median_time(decode, strings, FLAGS.repeats)
        exact = bool(np.array_equal(back.numpy(), symbols.numpy()) and ok.numpy().all())
        size = len(strings.numpy()[0])
        lanes = strings.numpy()[0][0] if name.startswith("rans") else ""
        out.append(f"| {label} | {count} | {name} | {lanes} | {size} | "
                   f"{8 * size / count:.4f} | {100 * (8 * size / bits - 1):+.2f}% | "
                   f"{1e9 * t_enc / count:.1f} | {1e9 * t_dec / count:.1f} | "
                   f"{1e3 * t_enc:.1f} / {1e3 * t_dec:.1f} | {'yes' if exact else 'NO'} |")
    return out


def main(argv):
    del argv
    from tfnq import image_io, registry
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in FLAGS.sizes]
    lines = [f"Images: the packaged sample resized to {', '.join(FLAGS.sizes)}; "
             f"{FLAGS.repeats} runs each, median of the {FLAGS.clock} clock; "
             f"{os.cpu_count()} CPU cores; "
             f"TensorFlow {tf.__version__}.", ""]
    coder_lines = ["| image | symbols | coder | lanes | bytes | bits/symbol | "
                   "vs information | encode ns/symbol | decode ns/symbol | "
                   "encode / decode ms | exact |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    whole_lines = ["| model | image | coder | bytes | bpp | vs range | compress ms | "
                   "decompress ms | same image |", "|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as directory:
        for name in FLAGS.models or [None]:
            path = registry.resolve(name)
            codecs = _codecs(path, directory) if FLAGS.whole else {}
            rans_path = next((p for n, (_, _, p) in codecs.items() if n.startswith("rans")),
                             None if FLAGS.whole else path)
            for width, height in sizes:
                image = image_io.sample_image((width, height))
                label = f"{width}x{height}"
                if rans_path:
                    coder_lines += _coder_rows(rans_path, image, label)
                    print("\n".join(coder_lines[-len(FLAGS.coders):]), flush=True)
                if not codecs:
                    continue
                results = {}
                for coder, (compress, decompress, _) in codecs.items():
                    t_enc, data = _median_time(compress, image, FLAGS.repeats)
                    t_dec, out = _median_time(decompress, data, FLAGS.repeats)
                    results[coder] = (len(data), t_enc, t_dec, out)
                first = next(iter(results.values()))[3]
                base = results.get("range", next(iter(results.values())))[0]
                for coder, (size, t_enc, t_dec, out) in results.items():
                    whole_lines.append(
                        f"| {os.path.basename(os.path.dirname(path))} | {label} | {coder} | "
                        f"{size} | {8 * size / (width * height):.4f} | "
                        f"{100 * (size / base - 1):+.2f}% | {1e3 * t_enc:.1f} | "
                        f"{1e3 * t_dec:.1f} | {'yes' if np.array_equal(out, first) else 'NO'} |")
                    print(whole_lines[-1], flush=True)
    whole = ["", "Whole compress / decompress:", ""] + whole_lines if FLAGS.whole else []
    text = "\n".join(lines + ["The coders alone (the latents' symbols):", ""] + coder_lines
                      + whole) + "\n"
    print(text)
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
