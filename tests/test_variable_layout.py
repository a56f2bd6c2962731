"""Checkpoints and exports keep their layout: the training campaign's checkpoints and the
shipped exports load into today's code (tests/golden/variable_layout.json, written by
scripts/make_variable_layout.py)."""

import json
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import make_variable_layout  # noqa: E402

with open(make_variable_layout.PATH) as _f:
    GOLDEN = json.load(_f)


def test_every_architecture_is_recorded():
    from tfnq import models
    recorded = {arch for arch, _ in make_variable_layout.CONFIGS.values()}
    assert recorded == set(models.ARCHITECTURES)
    assert sorted(GOLDEN) == sorted(make_variable_layout.CONFIGS)


@pytest.mark.parametrize("name", sorted(make_variable_layout.CONFIGS))
def test_checkpoint_keys_and_export_weights_are_unchanged(name):
    now = make_variable_layout.layout(*make_variable_layout.CONFIGS[name])
    assert now["checkpoint"] == GOLDEN[name]["checkpoint"], (
        "checkpoint object paths moved: old checkpoints would not restore")
    assert now["weights"] == GOLDEN[name]["weights"], (
        "the exported weight order changed: restore_weights reads exports by position")
