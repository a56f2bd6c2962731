"""Exports SavedModels from a training checkpoint or from another exported model.

    python scripts/export.py --checkpoint_dir=/tmp/tfnq/linear_un \
      --export_dir=saved_models --name=linear-0.016
    python scripts/export.py --from_model=hyperprior-0.013-un-q --modes=UN+UQ \
      --export_dir=/tmp/models --name=hyperprior-0.013

From a checkpoint: rebuilds the model from `model.json` that scripts/train.py writes
into the checkpoint folder, restores the latest checkpoint, and exports every
test-time mode the model supports (UN+Q and UN+UQ, or UN+UQ+SR), or `--modes`.

From a model (`--from_model`, a name in the models folder or a path): restores the
weights of an exported model and exports it again, e.g. a shipped UN+Q model as
UN+UQ (one trained noise model serves both); the training metadata is carried over.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# TensorFlow is imported before app.run on purpose: functions traced in a process
# that first imported it inside an absl main take tfc.GDN's slow generic path
# (see scripts/benchmark_reference.py).
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from tfnq import export, models, registry  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint_dir", None, "Training checkpoint folder.")
flags.DEFINE_string("from_model", None, "An exported model (name or path) to re-export.")
flags.DEFINE_list("modes", None, "Modes to export (default: all the model supports).")
flags.DEFINE_string("export_dir", None, "Where the model folders go.")
flags.DEFINE_string("name", None, "Model name prefix (the mode is appended).")
flags.mark_flags_as_required(["export_dir", "name"])
flags.register_multi_flags_validator(
    ["checkpoint_dir", "from_model"], lambda f: (f["checkpoint_dir"] is None) != (
        f["from_model"] is None), "Give exactly one of --checkpoint_dir and --from_model.")


def _from_checkpoint():
    with open(os.path.join(FLAGS.checkpoint_dir, "model.json")) as f:
        spec = json.load(f)
    model = models.ARCHITECTURES[spec["architecture"]](**spec["config"])
    step = tf.Variable(0, dtype=tf.int64)
    cpu_seconds = tf.Variable(0.0, dtype=tf.float64)
    latest = tf.train.latest_checkpoint(FLAGS.checkpoint_dir)
    if latest is None:
        raise app.UsageError(f"no checkpoint in {FLAGS.checkpoint_dir}")
    tf.train.Checkpoint(model=model, step=step, cpu_seconds=cpu_seconds).restore(
        latest).expect_partial()
    try:  # The campaign run the checkpoint belongs to, if any (see scripts/train.py).
        with open(os.path.join(FLAGS.checkpoint_dir, "flags.json")) as f:
            run = json.load(f).get("run")
    except (OSError, ValueError):
        run = None
    steps = int(step.numpy())
    progress = dict(cpu_hours=round(float(cpu_seconds.numpy()) / 3600, 4), run=run)
    # Version folder = training step, as scripts/train.py exports.
    return model, dict(checkpoint_dir=FLAGS.checkpoint_dir, steps=steps, progress=progress,
                       version=max(steps, 1))


def _from_model():
    path = export.version_dir(registry.resolve(FLAGS.from_model))
    with open(os.path.join(path, export.METADATA_PATH)) as f:
        training = json.load(f).get("training", {})
    return export.restore_model(path), dict(training=training)


def main(argv):
    del argv
    try:
        model, source = _from_model() if FLAGS.from_model else _from_checkpoint()
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    for path in export.export_trained(model, FLAGS.export_dir, FLAGS.name,
                                      modes=FLAGS.modes, **source):
        print(f"exported {path}")


if __name__ == "__main__":
    sys.exit(app.run(main))
