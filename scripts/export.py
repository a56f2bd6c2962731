"""Exports SavedModels from a training checkpoint (e.g. of an interrupted run).

    python scripts/export.py --checkpoint_dir=/tmp/tfnq/linear_un \
      --export_dir=saved_models --name=linear-0.016

Rebuilds the model from `model.json` that scripts/train.py writes into the
checkpoint folder, restores the latest checkpoint, and exports every test-time mode
the model supports (UN+Q and UN+UQ, or UN+UQ+SR).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint_dir", None, "Training checkpoint folder.")
flags.DEFINE_string("export_dir", None, "Where the model folders go.")
flags.DEFINE_string("name", None, "Model name prefix (the mode is appended).")
flags.mark_flags_as_required(["checkpoint_dir", "export_dir", "name"])


def main(argv):
    del argv
    import tensorflow as tf

    from tfnq import export, models

    with open(os.path.join(FLAGS.checkpoint_dir, "model.json")) as f:
        spec = json.load(f)
    model = models.ARCHITECTURES[spec["architecture"]](**spec["config"])
    step = tf.Variable(0, dtype=tf.int64)
    latest = tf.train.latest_checkpoint(FLAGS.checkpoint_dir)
    if latest is None:
        raise app.UsageError(f"no checkpoint in {FLAGS.checkpoint_dir}")
    tf.train.Checkpoint(model=model, step=step).restore(latest).expect_partial()
    for path in export.export_trained(model, FLAGS.export_dir, FLAGS.name,
                                      FLAGS.checkpoint_dir, steps=int(step.numpy())):
        print(f"exported {path} (step {int(step.numpy())})")


if __name__ == "__main__":
    sys.exit(app.run(main))
