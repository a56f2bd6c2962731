"""Lists the ops each SavedModel needs that stock TensorFlow does not have.

    python scripts/scan_ops.py                      # every model in saved_models/
    python scripts/scan_ops.py --models=PATH,...    # any SavedModels

Every node of every function is scanned (`tfnq.op_scan`), loop bodies and branches
included. Exit status 1 if any model needs such an op, so CI can require portable
exports.
"""

import sys

from tfnq import runtime

runtime.configure()

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", [], "Model names or SavedModel paths (default: all shipped).")


def main(argv):
    del argv
    from tfnq import op_scan, registry
    paths = ([registry.resolve(m) for m in FLAGS.models] if FLAGS.models
             else [m["path"] for m in registry.list_models()])
    found = False
    for path in paths:
        ops = op_scan.scan(path)
        extra = op_scan.non_core_ops(path)
        found |= bool(extra)
        print(f"{path}: {sum(ops.values())} nodes, {len(ops)} op types; "
              f"not in core TensorFlow: {', '.join(extra) or 'none'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(app.run(main))
