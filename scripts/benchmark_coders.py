"""The range coder (in the graph) against ANS (`constriction`, outside it) on the same
model: file sizes and times, and that both decode to the same image.

    python scripts/benchmark_coders.py [--models NAME,...] [--images GLOB] [--repeats 5]

Each model is restored from its export (weights and coding tables, so both coders code
the very same symbols with the very same tables), exported again with its coding
configuration and `coder="ans"` into a temporary folder, and loaded through
`tfnq.load`, as a user would. Images: the packaged sample photo at 768x512 unless
`--images` is given. Times are medians over `--repeats` runs after a warm-up, in one
process on this machine's CPU.
"""

import glob
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402, F401  (before app.run: see benchmark_reference.py)
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", None, "Model names or paths (default: the default model).")
flags.DEFINE_string("images", None, "Image glob (default: the packaged sample, 768x512).")
flags.DEFINE_integer("repeats", 5, "Timed runs per operation and image.")


def _median_time(fn, arg, repeats):
    out = fn(arg)  # Warm-up.
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def _ans_twin(path, directory):
    """The export at `path` again, with the same tables, coded with ANS."""
    from tfnq import coding_config, export, layout
    metadata = layout.read_metadata(path)
    model = export.restore_model(path)
    rate = (metadata.get("coding") or {}).get("rate")
    config = coding_config.get_coding_config(
        metadata.get("coding_config") or metadata["mode"]).replace(coder="ans")
    return export.export_model(model, config, os.path.join(directory, metadata["name"]),
                               rate=rate, tables=export.read_tables(path))


def main(argv):
    del argv
    from tfnq import client, image_io, registry
    if FLAGS.images:
        paths = sorted(glob.glob(FLAGS.images))
        if not paths:
            raise app.UsageError(f"no image matches {FLAGS.images}")
        images = [image_io.read_image(p) for p in paths]
        what = f"{len(images)} images ({FLAGS.images})"
    else:
        images = [image_io.sample_image((768, 512))]
        what = "the packaged sample resized to 768x512"
    pixels = sum(i.shape[0] * i.shape[1] for i in images)
    print(f"images: {what}; {FLAGS.repeats} runs each, median; {os.cpu_count()} CPU cores")
    print("| model | coder | bytes | bpp | vs range | encode (ms/image) | decode (ms/image) "
          "| same decode |\n|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        for name in FLAGS.models or [None]:
            path = registry.resolve(name)
            codecs = {"range": client.load(path),
                      "ans": client.load(_ans_twin(path, directory))}
            rows, decoded = {}, {}
            for coder, codec in codecs.items():
                size = encode = decode = 0.0
                decoded[coder] = []
                for image in images:
                    t, data = _median_time(codec.compress, image, FLAGS.repeats)
                    encode += t
                    t, out = _median_time(codec.decompress, data, FLAGS.repeats)
                    decode += t
                    size += len(data)
                    decoded[coder].append(out)
                rows[coder] = (size, encode / len(images), decode / len(images))
            same = all(np.array_equal(a, b)
                       for a, b in zip(decoded["range"], decoded["ans"], strict=True))
            for coder, (size, encode, decode) in rows.items():
                print(f"| {codecs['range'].name} | {codecs[coder].metadata['coder']} | "
                      f"{size:.0f} | {8 * size / pixels:.4f} | "
                      f"{100 * (size / rows['range'][0] - 1):+.2f}% | {1000 * encode:.1f} | "
                      f"{1000 * decode:.1f} | {'yes' if same else 'NO'} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
