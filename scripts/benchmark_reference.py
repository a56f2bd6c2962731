"""Times tfnq hyperprior SavedModels side by side with the same model coded by plain tfc.

    python scripts/benchmark_reference.py [--models NAME_OR_PATH,...] [--repeats 10]
    python scripts/benchmark_reference.py --num_filters 64 --num_latents 96   # untrained

For each tfnq mean-scale hyperprior (`--models`; without it, untrained models of
`--num_filters`/`--num_latents` exported in all three modes), the script builds the
reference of `tfnq.evaluation.tfc_reference` -- the same transforms with the same weights,
coded the way tensorflow-compression's `bmshj2018` example does it (plain rounding,
`tfc.ContinuousBatchedEntropyModel` + `tfc.LocationScaleIndexedEntropyModel`) --
exports it with `tf.saved_model.save`, loads both SavedModels and times, in one
process, compress and decompress of the packaged sample photo resized to
`--width`x`--height` (768x512, the Kodak size, by default).

Both sides are timed from a uint8 image to the bytes of a file and back: tfnq through
its `compress` / `decompress` functions (container built in the graph), the reference
through its `compress` / `decompress` functions plus `tfc.PackedTensors` (as the
example's commands do). Times are medians over `--repeats` runs after one warm-up run;
the runs alternate between the two (and swap order every run), so both see the same
machine state. Ratios are tfnq / reference (below 1: tfnq is faster).

The reference's transforms use tfc's `SignalConv2D`, which recomputes every RDFT
kernel with `tf.signal.irfft2d` on each call, as tfc's examples do; tfnq's layer
computes the same kernels with one matrix product (`tfnq.ops.irdft_kernel`), so most
of tfnq's lead is there. `--reference_kernels=tfnq` gives the reference tfnq's layer,
which times the coding paths alone.

The reference rounds (it is the equivalent of tfnq's UN+Q): for a UN+Q model whose
image sides are multiples of 64 the two decode to the same image up to float
rounding (the table counts the 8-bit values that differ: 0 with
`--reference_kernels=tfnq`, a few with tfc's kernels, which agree with tfnq's to a few
1e-7); for UN+UQ and UN+UQ+SR models it is the rounding codec with the same weights.
Each side's decoded image is checked against its own encoder-side reconstruction
(exit status 1 if one differs).

TensorFlow is imported at the top of this script, before `app.run`, on purpose: when
it is first imported inside an absl `main`, functions traced in that process see
`tf.executing_eagerly_outside_functions()` as False, so `Tensor.__eq__` is object
identity and `tfc.GDN`'s `if self.alpha == 1` / `if self.epsilon == 1` fast paths are
skipped for its generic `x ** alpha` path: `x / (beta + gamma * x)` instead of
`x / (beta + gamma * |x|)`, two `Pow` ops per GDN layer, about 2.4x slower coding.
SavedModels traced that way (e.g. by `scripts/export.py`) are flagged below the table.
"""

import os
import sys
import tempfile
import time

from tfnq import runtime

runtime.configure()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402  (before app.run: see the docstring)
from absl import app, flags, logging  # noqa: E402

import tfnq  # noqa: E402
from tfnq import client, export, image_io, registry  # noqa: E402
from tfnq.evaluation import metrics, tfc_reference  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", None,
                  "tfnq hyperprior model names or paths (default: untrained models).")
flags.DEFINE_integer("repeats", 10, "Timed runs per operation.")
flags.DEFINE_integer("width", 768, "Image width.")
flags.DEFINE_integer("height", 512, "Image height.")
flags.DEFINE_integer("num_filters", 64, "N of the untrained models (without --models).")
flags.DEFINE_integer("num_latents", 96, "M of the untrained models (without --models).")
flags.DEFINE_integer("num_scales", 64, "Scale grid size of the untrained models.")
flags.DEFINE_float("scale_max", 256.0, "Largest scale of the untrained models.")
flags.DEFINE_list("modes", ["UN+Q", "UN+UQ", "UN+UQ+SR"],
                  "Modes of the untrained models (without --models).")
flags.DEFINE_integer("seed", 0, "Weight seed of the untrained models.")
flags.DEFINE_enum("reference_kernels", "tfc", ["tfc", "tfnq"],
                  "How the reference computes its convolution kernels: tfc's `SignalConv2D` "
                  "(`irfft2d` on every call, as tfc's examples) or tfnq's (one matrix "
                  "product), to time the coding path alone.")
flags.DEFINE_integer("threads", 0, "TensorFlow intra- and inter-op threads (0: default).")
flags.DEFINE_string("work_dir", None,
                    "Where to write the SavedModels (default: a temporary folder, removed).")


def _image():
    return image_io.sample_image((FLAGS.width, FLAGS.height))


def _export_untrained(directory):
    """Untrained hyperpriors exported in `--modes`; returns their version folders."""
    paths, models = [], {}
    for mode in FLAGS.modes:
        soft_round = tfnq.get_coding_config(mode).soft_round
        if soft_round not in models:
            tf.keras.utils.set_random_seed(FLAGS.seed)
            models[soft_round] = tfnq.MeanScaleHyperprior(
                FLAGS.num_filters, FLAGS.num_latents, soft_round=soft_round,
                alpha=16.0 if soft_round else 1.0, num_scales=FLAGS.num_scales,
                scale_max=FLAGS.scale_max)
        name = f"untrained-hp{FLAGS.num_filters}x{FLAGS.num_latents}"
        paths.append(export.export_model(
            models[soft_round], mode,
            os.path.join(directory, export.model_dir_name(name, mode))))
    return paths


def _timed(fn, arg):
    t = time.perf_counter()
    out = fn(arg)
    return time.perf_counter() - t, out


def compare(codec, reference, image, repeats):
    """Times both codecs alternately; returns a dict of results."""
    sides = {"tfnq": codec, "ref": reference}
    data = {k: c.compress(image) for k, c in sides.items()}  # Warm-up.
    decoded = {k: c.decompress(data[k]) for k, c in sides.items()}
    times = {(k, op): [] for k in sides for op in ("enc", "dec")}
    for r in range(repeats):
        order = list(sides) if r % 2 == 0 else list(sides)[::-1]
        for k in order:
            t, data[k] = _timed(sides[k].compress, image)
            times[k, "enc"].append(t)
        for k in order:
            t, decoded[k] = _timed(sides[k].decompress, data[k])
            times[k, "dec"].append(t)
    result = {f"{k}_{op}": 1000 * float(np.median(v)) for (k, op), v in times.items()}
    for k, c in sides.items():
        result[f"{k}_bytes"] = len(data[k])
        result[f"{k}_psnr"] = metrics.psnr(image, decoded[k])
        result[f"{k}_exact"] = bool(np.array_equal(decoded[k], c.reconstruct(image)))
    result["differing"] = int(np.count_nonzero(decoded["tfnq"] != decoded["ref"]))
    return result


HEADER = ("| model | mode | tfnq encode (ms) | reference encode (ms) | encode ratio "
          "| tfnq decode (ms) | reference decode (ms) | decode ratio | tfnq bytes "
          "| reference bytes | tfnq PSNR (dB) | reference PSNR (dB) | decoded = encoder's "
          "(tfnq / ref) | values differing |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def row(name, mode, r):
    yes = {True: "yes", False: "NO"}
    return (f"| {name} | {mode} | {r['tfnq_enc']:.1f} | {r['ref_enc']:.1f} "
            f"| {r['tfnq_enc'] / r['ref_enc']:.2f} | {r['tfnq_dec']:.1f} | {r['ref_dec']:.1f} "
            f"| {r['tfnq_dec'] / r['ref_dec']:.2f} | {r['tfnq_bytes']} | {r['ref_bytes']} "
            f"| {r['tfnq_psnr']:.2f} | {r['ref_psnr']:.2f} "
            f"| {yes[r['tfnq_exact']]} / {yes[r['ref_exact']]} "
            f"| {r['differing'] if mode == 'UN+Q' else 'n/a'} |")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # No SavedModel-writing chatter.
    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    image = _image()
    h, w = image.shape[:2]
    with tempfile.TemporaryDirectory(prefix="tfnq-bench-ref-") as tmp:
        work = FLAGS.work_dir or tmp
        if FLAGS.models:
            paths = [registry.resolve(name) for name in FLAGS.models]
        else:
            paths = _export_untrained(os.path.join(work, "tfnq"))
        print(f"image: packaged sample resized to {w}x{h}; {FLAGS.repeats} runs, median, "
              f"alternating; TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores; "
              f"reference kernels: {FLAGS.reference_kernels}")
        print(HEADER, flush=True)
        failed, notes = False, []
        for i, path in enumerate(paths):
            codec = client.load(path)
            if codec.metadata.get("architecture") != "hyperprior":
                print(f"| {codec.name} | {codec.mode} | not a hyperprior: skipped |", flush=True)
                continue
            reference = tfc_reference.from_tfnq(
                tfc_reference.restore_tfnq_model(codec.path),
                kernels=FLAGS.reference_kernels)
            ref_path = tfc_reference.export(reference, os.path.join(work, f"reference-{i}"))
            del reference
            result = compare(codec, tfc_reference.ReferenceCodec(ref_path), image,
                             FLAGS.repeats)
            print(row(codec.name, codec.mode, result), flush=True)
            failed |= not (result["tfnq_exact"] and result["ref_exact"])
            for side, p in (("tfnq model", codec.path), ("its reference", ref_path)):
                if tfc_reference.gdn_generic_path(p):
                    notes.append(f"{codec.name}: {side} ({p}) computes GDN with tfc's generic "
                                 "`x ** alpha` path (traced in a process that imported "
                                 "TensorFlow inside an absl main): slower, and not the "
                                 "`|x|` GDN the model was trained with.")
        for note in notes:
            print(f"\nNote: {note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(app.run(main))
