"""Op-by-op time of a hyperprior's compress and decompress, tfnq against the tfc reference.

    python scripts/profile_ops.py [--model NAME_OR_PATH] [--repeats 20] [--top 25]

Loads the tfnq SavedModel and the reference of `tfnq.evaluation.tfc_reference` built from
the same weights (exported and loaded as a SavedModel, as `benchmark_reference.py`
does), runs each side's compress and decompress of the packaged photo resized to
768x512 under the TensorFlow profiler, and sums the host time of every executed op
by op type (`Conv2D`, `EntropyEncodeIndex`, ...). Prints, per operation, the
milliseconds per run of each op type on both sides and the difference, largest
first: where tfnq spends time the reference does not. Op times overlap when the
executor runs ops in parallel, so they do not add up to the wall time.
"""

import collections
import os
import sys
import tempfile

from tfnq import runtime

runtime.configure()

import tensorflow as tf  # noqa: E402  (before app.run: see benchmark_reference.py)
from absl import app, flags, logging  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

from tfnq import client, image_io, registry  # noqa: E402
from tfnq.evaluation import tfc_reference  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "hyperprior-0.0105-un-q", "Hyperprior model name or path.")
flags.DEFINE_integer("repeats", 20, "Profiled runs per operation.")
flags.DEFINE_integer("top", 25, "Op types to print per operation.")
flags.DEFINE_enum("reference_kernels", "tfnq", ["tfc", "tfnq"],
                  "Convolution layer of the reference: tfnq's (default: compare the coding "
                  "paths) or tfc's (as in benchmark_reference.py's default).")
flags.DEFINE_integer("width", 768, "Image width.")
flags.DEFINE_integer("height", 512, "Image height.")

# Ops that only call a function (their time includes the ops they run).
# Executor events ("Process", "Run") that span many ops.
_CALL_OPS = {"PartitionedCall", "StatefulPartitionedCall", "Process", "Run"}


def op_times(logdir):
    """Sums host op time (ms) by op type over the profile in `logdir`."""
    totals, counts = collections.Counter(), collections.Counter()
    for root, _, files in os.walk(logdir):
        for name in files:
            if not name.endswith(".xplane.pb"):
                continue
            space = xplane_pb2.XSpace()
            with open(os.path.join(root, name), "rb") as f:
                space.ParseFromString(f.read())
            for plane in space.planes:
                if not plane.name.startswith("/host:CPU"):
                    continue
                for line in plane.lines:
                    for event in line.events:
                        label = plane.event_metadata[event.metadata_id].name
                        if ":" not in label:
                            continue
                        op_type = label.rsplit(":", 1)[1]
                        if not op_type or op_type in _CALL_OPS or " " in op_type:
                            continue
                        totals[op_type] += event.duration_ps / 1e9
                        counts[op_type] += 1
    return totals, counts


def profile(fn, arg, repeats, logdir):
    fn(arg)  # Warm-up, outside the profile.
    tf.profiler.experimental.start(logdir)
    for _ in range(repeats):
        fn(arg)
    tf.profiler.experimental.stop()
    return op_times(logdir)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    image = image_io.sample_image((FLAGS.width, FLAGS.height))
    path = registry.resolve(FLAGS.model)
    codec = client.load(path)
    with tempfile.TemporaryDirectory(prefix="tfnq-profile-ops-") as tmp:
        reference = tfc_reference.from_tfnq(tfc_reference.restore_tfnq_model(codec.path),
                                            kernels=FLAGS.reference_kernels)
        ref = tfc_reference.ReferenceCodec(
            tfc_reference.export(reference, os.path.join(tmp, "reference")))
        del reference
        data, ref_data = codec.compress(image), ref.compress(image)
        runs = {
            "encode": {"tfnq": (codec.compress, image), "ref": (ref.compress, image)},
            "decode": {"tfnq": (codec.decompress, data), "ref": (ref.decompress, ref_data)},
        }
        print(f"{codec.name} ({codec.mode}), {FLAGS.width}x{FLAGS.height}, "
              f"{FLAGS.repeats} profiled runs; ms per run, summed over ops of a type")
        for operation, sides in runs.items():
            results = {}
            for side, (fn, arg) in sides.items():
                logdir = os.path.join(tmp, f"{operation}-{side}")
                results[side] = profile(fn, arg, FLAGS.repeats, logdir)
            t, r = results["tfnq"][0], results["ref"][0]
            c, rc = results["tfnq"][1], results["ref"][1]
            n = FLAGS.repeats
            print(f"\n{operation}: all ops tfnq {sum(t.values()) / n:.1f} ms, "
                  f"reference {sum(r.values()) / n:.1f} ms")
            print("| op type | tfnq ms | ref ms | diff ms | tfnq ops/run | ref ops/run |")
            print("|---|---|---|---|---|---|")
            keys = sorted(set(t) | set(r), key=lambda k: -abs(t[k] - r[k]))
            for k in keys[:FLAGS.top]:
                print(f"| {k} | {t[k] / n:.2f} | {r[k] / n:.2f} | {(t[k] - r[k]) / n:+.2f} "
                      f"| {c[k] / n:.0f} | {rc[k] / n:.0f} |")


if __name__ == "__main__":
    sys.exit(app.run(main))
