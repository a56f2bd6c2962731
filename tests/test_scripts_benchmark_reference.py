"""Tests of tfnq.evaluation.tfc_reference and scripts/benchmark_reference.py on tiny
models."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc
from conftest import random_image

import tfnq
from tfnq import client, export
from tfnq.evaluation import tfc_reference

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPO, "scripts")

N, M = 8, 12


def _tfnq_model():
    tf.random.set_seed(0)
    model = tfnq.MeanScaleHyperprior(N, M, num_scales=12, scale_max=20.0)
    model(tf.zeros([1, 64, 64, 3]))
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny tfnq hyperprior exported in UN+Q, and the in-memory model."""
    model = _tfnq_model()
    path = export.export_model(model, "UN+Q", str(tmp_path_factory.mktemp("hp") / "tiny"))
    return model, path


@pytest.fixture(scope="module")
def restored(exported):
    """The exported model restored from its SavedModel, and its tfc reference."""
    _, path = exported
    model = tfc_reference.restore_tfnq_model(path)
    return model, tfc_reference.from_tfnq(model)


def test_restore_and_reference_have_the_tfnq_weights(exported, restored):
    (model, path), (restored_model, reference) = exported, restored
    weights = lambda m: m.transform_variables + m.density_variables + [m.alpha]
    for a, b in zip(weights(model), weights(restored_model), strict=True):
        assert a.name == b.name
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    image = random_image(64, 128, seed=4)
    tfnq_image = client.load(path).reconstruct(image)
    # Rounding on both sides, same layers: the same image for UN+Q at multiples of 64.
    same_layers = tfc_reference.from_tfnq(restored_model, kernels="tfnq")
    np.testing.assert_array_equal(same_layers.reconstruct(image).numpy(), tfnq_image)
    # tfc's layers compute the kernels by irfft2d: equal up to float rounding.
    difference = np.abs(reference.reconstruct(image).numpy().astype(int) - tfnq_image)
    assert difference.max() <= 1 and np.count_nonzero(difference) <= difference.size // 100
    assert not tfc_reference.gdn_generic_path(path)


def test_reference_layers_are_tfcs(restored):
    _, reference = restored
    transforms = (reference.analysis_transform, reference.synthesis_transform,
                  reference.hyper_analysis_transform, reference.hyper_synthesis_transform)
    for transform in transforms:
        assert all(type(layer) is tfc.SignalConv2D for layer in transform.layers)


@pytest.mark.parametrize("size", [(64, 64), (37, 50)], ids=["64x64", "37x50"])
def test_reference_round_trips(restored, size):
    _, reference = restored
    image = random_image(*size, seed=3)
    tensors = reference.compress(image)
    decoded = reference.decompress(*tensors).numpy()
    assert decoded.shape == image.shape
    np.testing.assert_array_equal(decoded, reference.reconstruct(image).numpy())


# The script in a subprocess (~1.3 min); the tests above check its reference in process.
@pytest.mark.slow
def test_script_runs(exported):
    """The SavedModel path (export, load, packed files) on a 64x64 image."""
    _, path = exported
    env = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run(
        [sys.executable, os.path.join(SCRIPTS, "benchmark_reference.py"), f"--models={path}",
         "--width=64", "--height=64", "--repeats=1", "--reference_kernels=tfnq"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| tiny ")]
    assert len(rows) == 1, result.stdout
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[1] == "UN+Q"
    assert all(float(c) > 0 for c in cells[2:8])
    assert cells[-2:] == ["yes / yes", "0"]  # Same layers: the same UN+Q image.
    assert "Note:" not in result.stdout
