"""Where a hyperprior's encode time goes: the exported path, the model alone, the analysis.

    python scripts/profile_compress.py [--model NAME_OR_PATH]

Times, on the packaged photo resized to 768x512 (25 runs after a warm-up, median and
minimum), `ServableCodec.compress` (checks and container included), the model's
`compress_image` alone, and its analysis transforms alone.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402  (before app.run: see benchmark_reference.py)
from absl import app, flags  # noqa: E402

from tfnq import export, image_io, registry  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "hyperprior-0.013-un-q", "Hyperprior model name or path.")
flags.DEFINE_integer("repeats", 25, "Timed runs.")

_SPEC = [tf.TensorSpec([None, None, 3], tf.uint8)]


def main(argv):
    del argv
    image = image_io.sample_image((768, 512))
    path = registry.resolve(FLAGS.model)
    model = export.restore_model(path)
    codec = export.ServableCodec(model, export.load(path).mode)
    functions = {
        "exported compress": codec.compress,
        "model.compress_image": tf.function(model.compress_image, input_signature=_SPEC),
        "analysis transforms": tf.function(model._analyze, input_signature=_SPEC),
    }
    times = {name: [] for name in functions}
    for fn in functions.values():
        fn(image)
    for _ in range(FLAGS.repeats):
        for name, fn in functions.items():
            t = time.perf_counter()
            tf.nest.map_structure(lambda x: x.numpy(), fn(image))
            times[name].append(time.perf_counter() - t)
    for name, values in times.items():
        print(f"{name:22s} median {1000 * np.median(values):6.1f} ms   "
              f"min {1000 * np.min(values):6.1f} ms")


if __name__ == "__main__":
    sys.exit(app.run(main))
