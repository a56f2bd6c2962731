"""Bits of a hyperprior's latents with scale indexes rounded (tfnq) or truncated (tfc).

    python scripts/scale_index_rounding.py --models=hyperprior-0.013-un-q \\
      --eval_dir=../shared/data/valid --every=3 [--shifts=0.25,0.5,1,1.5]

tfnq rounds the predicted scale index to the nearest coding table; tfc's
`LocationScaleIndexedEntropyModel` truncates it (a table with a scale up to one grid
step smaller). The index only selects a table, so the reconstruction is the same
either way; this script prints the estimated bits per pixel (hyper-latents and
latents, within 0.2% of the file size for these models) under both choices. Truncation
is emulated by rounding `index - 1/2`.

`--shifts` adds columns for rounding `index - s`, i.e. scales `exp(-s * step)` times
the predicted ones (one grid step is a factor 1.13): if the bits keep falling beyond
`s = 1/2`, the model's scales are miscalibrated and truncation only hides part of it.
"""

import os
import sys

from tfnq import runtime

runtime.configure()

import tensorflow as tf  # noqa: E402  (before app.run: see benchmark_reference.py)
from absl import app, flags  # noqa: E402

from tfnq import client, data, export, image_io, layout, registry  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", None, "Hyperprior model names or paths.")
flags.DEFINE_string("eval_dir", None, "Folder, glob or comma list of images.")
flags.DEFINE_integer("every", 1, "Use every n-th image (sorted by path).")
flags.DEFINE_list("shifts", [], "Further index shifts to measure (rounding index - s).")
flags.mark_flags_as_required(["models", "eval_dir"])


def _bpp(model, images, shift):
    original = model._hyper_parameters

    def shifted(w):
        mean, index = original(w)
        return mean, index - shift

    model._hyper_parameters = shifted
    try:
        bits = sum(float(model.estimate_bits(tf.constant(image))) for image in images)
    finally:
        model._hyper_parameters = original
    return bits / sum(image.shape[0] * image.shape[1] for image in images)


def main(argv):
    del argv
    images = [image_io.read_image(f) for f in sorted(data.list_files(FLAGS.eval_dir))
              [::FLAGS.every]]
    shifts = [float(s) for s in FLAGS.shifts]
    extra = "".join(f" shift {s:g} / rounded |" for s in shifts)
    print(f"{len(images)} images\n\n| model | mode | rounded (bpp) | truncated (bpp) | "
          f"truncated / rounded |{extra}\n|---|---|---|---|---|{'---|' * len(shifts)}")
    for name in FLAGS.models:
        path = registry.resolve(name)
        mode = client.load(path).mode
        model = export.restore_model(path)
        model.prepare_coding(mode)
        rounded, truncated = _bpp(model, images, 0.0), _bpp(model, images, 0.5)
        ratios = "".join(f" {_bpp(model, images, s) / rounded:.4f} |" for s in shifts)
        print(f"| {os.path.basename(os.path.dirname(layout.version_dir(path)))} | {mode} | "
              f"{rounded:.4f} | {truncated:.4f} | {truncated / rounded:.4f} |{ratios}",
              flush=True)


if __name__ == "__main__":
    sys.exit(app.run(main))
