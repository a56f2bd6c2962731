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
In the exported model's own mode (and rate) the export keeps its coding tables
instead of building them again: tables built on another machine can differ in a few
entries, and the files of the first export must still decode. Exports of tfnq 0.1
hashed other things into their fingerprint (the tables of every mode the model had
been prepared for), so a re-export computes another one; `--keep_fingerprint` gives
the re-export the fingerprint of the export it comes from instead, so that its files
still decode. Use it only where `scripts/make_golden.py --check_reexport` reports that
the model, with the old fingerprint, decodes the golden file the same.
"""

import json
import os
import subprocess
import sys

from tfnq import runtime

runtime.configure(log_level="2")

# TensorFlow is imported before app.run on purpose: functions traced in a process
# that first imported it inside an absl main take tfc.GDN's slow generic path
# (see scripts/benchmark_reference.py).
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from tfnq import coding_config, export, layout, models, registry  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint_dir", None, "Training checkpoint folder.")
flags.DEFINE_string("from_model", None, "An exported model (name or path) to re-export.")
flags.DEFINE_list("modes", None, "Modes to export (default: from a checkpoint, all the "
                  "model supports; from a model, its own).")
flags.DEFINE_string("export_dir", None, "Where the model folders go.")
flags.DEFINE_string("name", None, "Model name prefix (the mode is appended).")
flags.DEFINE_enum("coder", export.DEFAULT_CODER, ["rans", "range"],
                  "Entropy coder: rANS in core TF ops (loads in any TensorFlow and stock "
                  "TF Serving) or tfc's range coder (needs tensorflow-compression).")
flags.DEFINE_integer("version", None, "Version folder (default: the training step, or for "
                     "--from_model the version it has).")
flags.DEFINE_bool("record_replaces", True, "--from_model with another coder or numerics: "
                  "record the export replaced (its files then get an error naming it); "
                  "off for an export no user has files of (e.g. a training run's).")
flags.DEFINE_bool("keep_fingerprint", False, "--from_model, own mode: keep the export's "
                  "fingerprint (see the module docstring).")
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
    path = layout.version_dir(registry.resolve(FLAGS.from_model))
    metadata = layout.read_metadata(path)
    return export.restore_model(path), metadata


def _head():
    """The repository's commit (where the export being replaced still is), or None."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _reexport(model, metadata):
    """The exported model again: its own mode and rate with its own tables; other
    modes (`--modes`) with tables built here."""
    own = metadata["mode"]
    rate = (metadata.get("coding") or {}).get("rate")
    modes = [coding_config.get_coding_config(m).name for m in FLAGS.modes] if FLAGS.modes else [own]
    for mode in modes:
        if coding_config.get_coding_config(mode).soft_round != model.soft_round:
            raise ValueError(f"tfnq: a model trained {'with' if model.soft_round else 'without'}"
                             f" soft rounding cannot be exported as {mode}")
    training = metadata.get("training", {})
    name = FLAGS.name
    if rate is not None:
        name = f"{name}-{model.lambdas[rate]:g}"
    version = FLAGS.version if FLAGS.version is not None else os.path.basename(
        metadata["path"])
    own_coder = (metadata.get("coding_config") or {}).get("coder", "range")
    # Exports record their numerics since version 3; before, every model class had the
    # numerics it has today up to 2 (linear 1, hyperprior 2).
    own_numerics = metadata.get("numerics", min(model.numerics, 2))
    same_files = FLAGS.coder == own_coder and own_numerics == model.numerics
    if FLAGS.keep_fingerprint and not same_files:
        raise ValueError(f"--keep_fingerprint: the export codes with {own_coder!r} and "
                         f"numerics {own_numerics}; files coded with {FLAGS.coder!r} and "
                         f"numerics {model.numerics} are other files")
    for mode in modes:
        # Tables are the coder's input, whichever coder: its own mode keeps its own.
        tables = export.read_tables(metadata["path"]) if mode == own else None
        fingerprint = (int(metadata["fingerprint"], 16)
                       if FLAGS.keep_fingerprint and mode == own else None)
        config = coding_config.get_coding_config(mode).with_coder(FLAGS.coder)
        # Its own mode with its own tables decodes as the export did: same results.
        # The same files (e.g. another form of the same decoder): its own results, and
        # the export it replaced, whose files still get their clear error.
        extra = ({k: metadata[k] for k in ("evaluation", "replaces") if k in metadata}
                 if mode == own and same_files else {})
        if mode == own and not same_files and FLAGS.record_replaces:
            # Same weights, other files: a file of the export this one replaces gets a
            # clear error (tfnq.client), not just "another model".
            extra["replaces"] = dict(version=os.path.basename(metadata["path"]),
                                     coder=metadata.get("coder"), numerics=own_numerics,
                                     fingerprint=metadata["fingerprint"], commit=_head())
        yield export.export_model(
            model, config, os.path.join(FLAGS.export_dir, export.model_dir_name(name, config)),
            version=version, training=training, rate=rate, tables=tables,
            fingerprint=fingerprint, extra_metadata=extra or None)


def main(argv):
    del argv
    try:
        if FLAGS.from_model:
            paths = list(_reexport(*_from_model()))
        else:
            model, source = _from_checkpoint()
            if FLAGS.version is not None:
                source["version"] = FLAGS.version
            paths = export.export_trained(model, FLAGS.export_dir, FLAGS.name,
                                          modes=FLAGS.modes, coder=FLAGS.coder, **source)
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    for path in paths:
        print(f"exported {path}")


if __name__ == "__main__":
    sys.exit(app.run(main))
