"""Times compress and decompress of a 768x512 image and compares bits to the estimate.

    python scripts/benchmark.py [--model NAME] [--repeats 10]

The image is the packaged sample photo resized to 768x512 (the Kodak size). Times
are medians over --repeats runs after one warm-up run, through the exported
SavedModel signatures (what a server runs), in one process on this machine's CPU.
"""

import os
import sys
import time

from tfnq import runtime

runtime.configure()

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", None, "Model names or paths (default: the default model).")
flags.DEFINE_integer("repeats", 10, "Timed runs per operation.")
flags.DEFINE_integer("width", 768, "Image width.")
flags.DEFINE_integer("height", 512, "Image height.")


def _median_time(fn, arg, repeats):
    fn(arg)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(arg)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def main(argv):
    del argv
    import tensorflow as tf

    from tfnq import bitstream, client, image_io, registry

    image = image_io.sample_image((FLAGS.width, FLAGS.height))
    h, w = image.shape[:2]
    print(f"image: packaged sample resized to {w}x{h}; {FLAGS.repeats} runs, median; "
          f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores")
    print("| model | mode | encode (ms) | decode (ms) | file bits | estimated bits "
          "| file / estimate | container bytes |\n|---|---|---|---|---|---|---|---|")
    for name in FLAGS.models or [None]:
        codec = client.load(registry.resolve(name))
        enc, data = _median_time(codec.compress, image, FLAGS.repeats)
        dec, _ = _median_time(codec.decompress, data, FLAGS.repeats)
        estimate = codec.estimate_bits(image)
        payload_bits = 8 * sum(bitstream.parse_header(data)["section_lengths"])
        overhead = len(data) - payload_bits // 8
        print(f"| {codec.name} | {codec.mode} | {1000 * enc:.1f} | {1000 * dec:.1f} | "
              f"{payload_bits} | {estimate:.0f} | {payload_bits / estimate:.4f} | "
              f"{overhead} |", flush=True)


if __name__ == "__main__":
    sys.exit(app.run(main))
