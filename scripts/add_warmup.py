"""Writes TensorFlow Serving warm-up requests into existing exports.

    python scripts/add_warmup.py                       # every model in saved_models/
    python scripts/add_warmup.py --models=hyperprior-0.0105-un-q,/tmp/models/mine

`tfnq.export.export_model` writes `assets.extra/tf_serving_warmup_requests` into every
in-graph coded export (`tfnq.serving.write_warmup_requests`: a `compress` request on a
small crop of the sample photograph and a `decompress` request on the file the model
makes of it); models exported before it have none. This adds them: to the highest
version of each model (every version with `--all_versions`), replacing an earlier
warm-up file. Stack-coded exports (no `compress`/`decompress` signatures) are skipped.

The default folder is `$TFNQ_MODELS` or `saved_models/` (`tfnq.registry`). Exits with
status 1 if a model could not be given its warm-up requests.
"""

import os
import sys

from tfnq import runtime

runtime.configure(log_level="2")

# TensorFlow is imported before app.run on purpose (see scripts/export.py).
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402

from tfnq import layout, registry, serving  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", None, "Model names (in --models_dir) or paths of model or "
                  "version folders (default: every model in --models_dir).")
flags.DEFINE_string("models_dir", None, "The models folder (default: $TFNQ_MODELS or "
                    "saved_models/).")
flags.DEFINE_bool("all_versions", False, "Every integer version folder of a model, not "
                  "only the highest.")


def _signature_names(version_dir):
    """The signature names of a SavedModel, read from saved_model.pb (nothing loaded)."""
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(version_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    return {name for graph in proto.meta_graphs for name in graph.signature_def}


def _version_dirs(name_or_path, directory):
    """The version folders to give warm-up requests, of one `--models` entry."""
    path = registry.resolve(name_or_path, directory)  # The highest version folder.
    if not FLAGS.all_versions or os.path.exists(os.path.join(name_or_path, "saved_model.pb")):
        return [path]
    model = os.path.dirname(path)
    versions = sorted((d for d in os.listdir(model) if d.isdigit()), key=int)
    return [os.path.join(model, v) for v in versions
            if os.path.exists(os.path.join(model, v, "saved_model.pb"))]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    directory = FLAGS.models_dir or registry.models_dir()
    names = FLAGS.models or [m["name"] for m in registry.list_models(directory)]
    if not names:
        print(f"tfnq: no models in {directory}", file=sys.stderr)
        return 1
    failed = 0
    for name in names:
        try:
            version_dirs = _version_dirs(name, directory)
        except layout.CodecError as e:
            print(str(e), file=sys.stderr)
            failed += 1
            continue
        for version_dir in version_dirs:
            label = os.path.join(os.path.basename(os.path.dirname(version_dir)),
                                 os.path.basename(version_dir))
            missing = set(serving.WARMUP_SIGNATURES) - _signature_names(version_dir)
            if missing:
                print(f"{label}: skipped (no {' or '.join(sorted(missing))} signature: "
                      "stack-coded)")
                continue
            try:
                path = serving.write_warmup_requests(version_dir)
            except (ValueError, OSError, tf.errors.OpError) as e:
                print(f"{label}: {e}", file=sys.stderr)
                failed += 1
                continue
            print(f"{label}: {os.path.relpath(path, version_dir)} "
                  f"({os.path.getsize(path)} bytes)")
    return 1 if failed else 0


if __name__ == "__main__":
    app.run(main)
