"""Ships exports of campaign runs into saved_models/, retiring the models they replace.

    python scripts/ship.py --runs=ft-un-0.0022,ft-sr-0.0022 --modes=UN+Q,UN+UQ+SR \
      --retire='hyperprior-0.0035-*'

For each run: its newest export in each of `--modes` (found by the run name in the
exports' metadata, under `--export_root`) is copied to `saved_models/<name>/<step>/`
(TensorFlow Serving's layout: the version is the training step), replacing a model of
that name. `--retire` removes shipped models by name pattern. The sizes are checked
against the budget of `saved_models/` (150 MB) before anything is changed, and the
copies are made next to the target and renamed into place, so an interruption
leaves either the old model or the new one. Only exports coded with rANS in core TF
ops are shipped (a run exported with tfc's range coder is re-exported first). Then
evaluate the new models
(`scripts/evaluate.py --update_metadata`), write their golden files
(`scripts/make_golden.py`) and update `saved_models/DEFAULT` if needed.
"""

import fnmatch
import glob
import json
import os
import shutil
import sys

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUDGET_MB = 150

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", [], "Campaign runs whose newest exports to ship.")
flags.DEFINE_list("modes", ["UN+Q", "UN+UQ+SR"], "Modes to ship (others are left out).")
flags.DEFINE_list("retire", [], "Name patterns of shipped models to remove.")
flags.DEFINE_string("export_root", "/work/ckpt/campaign/export", "Where the runs exported.")
flags.DEFINE_string("models_dir", os.path.join(REPO, "saved_models"), "The shipped models.")
flags.DEFINE_bool("dry_run", False, "Say what would change, change nothing.")


def _size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def newest_exports(run, modes):
    """`{model name: version folder}` of a run's newest export in each mode."""
    found = {}
    for meta_path in glob.glob(os.path.join(FLAGS.export_root, "*", "*", "assets.extra",
                                            "tfnq.json")):
        with open(meta_path) as f:
            metadata = json.load(f)
        info = metadata.get("training") or {}
        if info.get("run") != run or metadata.get("mode") not in modes:
            continue
        name = os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(meta_path))))
        version = os.path.dirname(os.path.dirname(meta_path))
        if name not in found or int(os.path.basename(version)) > int(
                os.path.basename(found[name])):
            found[name] = version
    return found


def main(argv):
    del argv
    shipping = {}
    for run in FLAGS.runs:
        exports = newest_exports(run, set(FLAGS.modes))
        if not exports:
            raise app.UsageError(f"no export of run {run} in {FLAGS.modes} under "
                                 f"{FLAGS.export_root}")
        shipping.update(exports)
    for version in sorted(shipping.values()):
        with open(os.path.join(version, "assets.extra", "tfnq.json")) as f:
            coder = json.load(f).get("coder")
        if coder != "tf-rans":  # Shipped models load in stock TensorFlow (issue 11).
            raise app.UsageError(
                f"{version} codes with {coder!r}, not rANS in core TF ops: re-export it "
                f"(python scripts/export.py --from_model={version} --coder=rans "
                f"--export_dir=... --name=...) and ship that")
    shipped = [d for d in sorted(os.listdir(FLAGS.models_dir))
               if os.path.isdir(os.path.join(FLAGS.models_dir, d))]
    retired = [d for d in shipped if d not in shipping
               and any(fnmatch.fnmatch(d, p) for p in FLAGS.retire)]
    kept = [d for d in shipped if d not in retired and d not in shipping]
    total = (sum(_size(os.path.join(FLAGS.models_dir, d)) for d in kept)
             + sum(_size(v) for v in shipping.values()))
    for name, version in sorted(shipping.items()):
        print(f"ship   {name}/{os.path.basename(version)}  ({_size(version) / 2**20:.1f} MB)")
    for name in retired:
        print(f"retire {name}")
    print(f"saved_models/ would hold {len(kept) + len(shipping)} models, "
          f"{total / 2**20:.1f} MB (budget {BUDGET_MB} MB)")
    if total > BUDGET_MB * 2**20:
        raise app.UsageError("over the budget of saved_models/: retire more or ship fewer")
    if FLAGS.dry_run:
        return 0
    for name, version in shipping.items():
        target = os.path.join(FLAGS.models_dir, name)
        staging = os.path.join(FLAGS.models_dir, f".ship-{name}")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(version, os.path.join(staging, os.path.basename(version)))
        old = os.path.join(FLAGS.models_dir, f".old-{name}")
        if os.path.exists(target):
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    for name in retired:
        shutil.rmtree(os.path.join(FLAGS.models_dir, name))
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
