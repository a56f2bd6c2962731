"""Writes `tests/golden/variable_layout.json`: what checkpoints and exports hold, by name.

    python scripts/make_variable_layout.py

For a small model of every architecture (and with soft rounding), records

* the keys of a training checkpoint of the model (`tf.train.Checkpoint(model=...)`,
  as `scripts/train.py` writes it): the object paths a checkpoint is restored by;
* the weights an export stores, in order (`tfnq.export.model_weights`, which
  `restore_weights` reads back by position), with their shapes.

`tests/test_variable_layout.py` checks today's code against the file, so a refactor
that moves a variable (and would stop the training campaign's checkpoints or the
shipped exports from loading into the new code) fails a test instead. Regenerate only
together with a converter for the old layout.
"""

import json
import os
import sys
import tempfile

from tfnq import runtime

runtime.configure()

import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tfnq import export, models  # noqa: E402

PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "tests", "golden", "variable_layout.json")

# Small configurations of every architecture; what matters is the structure.
CONFIGS = {
    "linear": ("linear", dict(block_size=2)),
    "linear-sr": ("linear", dict(block_size=2, soft_round=True, expected_grads=True)),
    "hyperprior": ("hyperprior", dict(num_filters=4, num_latents=6)),
    "hyperprior-sr": ("hyperprior", dict(num_filters=4, num_latents=6, soft_round=True)),
    "variable_rate_hyperprior": (
        "variable_rate_hyperprior", dict(num_filters=4, num_latents=6, lambdas=[0.001, 0.01])),
}


def layout(architecture, config):
    """`{"checkpoint": [key, ...], "weights": ["name [shape]", ...]}` of a fresh model."""
    model = models.ARCHITECTURES[architecture](**config)
    with tempfile.TemporaryDirectory() as tmp:
        path = tf.train.Checkpoint(model=model).write(os.path.join(tmp, "ckpt"))
        keys = sorted(k for k, _ in tf.train.list_variables(path)
                      if not k.startswith("_CHECKPOINTABLE_OBJECT_GRAPH"))
    weights = [f"{v.name} {v.shape.as_list()}" for v in export.model_weights(model)]
    return dict(checkpoint=keys, weights=weights)


def main():
    result = {name: layout(*spec) for name, spec in CONFIGS.items()}
    with open(PATH, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
