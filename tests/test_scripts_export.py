"""Tests of scripts/export.py: re-exporting an exported model in another mode."""

import os
import subprocess
import sys

import pytest
from conftest import UNQ, UNUQ, random_image

import tfnq

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _export(*args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, os.path.join(REPO, "scripts", "export.py"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


# The script in a subprocess (~35 s): slow. test_export.py's
# test_restore_model_and_re_export_in_another_mode does the same re-export in process.
@pytest.mark.slow
def test_from_model_in_another_mode(exported, codecs, tmp_path):
    # (The fixture's exports code with tfc's range coder; the script's default is rANS.)
    result = _export(f"--from_model={exported.paths[UNQ]}", "--modes=UN+UQ", "--coder=range",
                     f"--export_dir={tmp_path}", "--name=again")
    assert result.returncode == 0, result.stderr[-2000:]
    assert os.listdir(tmp_path) == ["again-un-uq"]
    again = tfnq.load(str(tmp_path / "again-un-uq"))
    assert again.metadata["fingerprint"] == codecs[UNUQ].metadata["fingerprint"]
    image = random_image(17, 33, seed=2)
    assert again.compress(image) == codecs[UNUQ].compress(image)


# Re-exports a shipped hyperprior in a subprocess (~3 min).
@pytest.mark.slow
def test_from_model_keeps_its_tables_and_its_files(tmp_path):
    """A shipped model re-exported in its own mode keeps its coding tables (rebuilt on
    this machine, a few entries of its hyper-latent tables come out one off), so its
    fingerprint stays, it makes its golden file's payload and decodes the golden file
    as the original."""
    import json

    import numpy as np
    name = "hyperprior-0.013-un-uq-sr"
    result = _export(f"--from_model={name}", f"--export_dir={tmp_path}", "--name=again")
    assert result.returncode == 0, result.stderr[-2000:]
    again = tfnq.load(str(tmp_path / "again-un-uq-sr"))
    shipped = tfnq.load(os.path.join(REPO, "saved_models", name))
    assert again.metadata["fingerprint"] == shipped.metadata["fingerprint"]
    assert again.metadata["training"] == shipped.metadata["training"]
    golden = os.path.join(REPO, "tests", "golden", name)
    with open(golden + ".tfnq", "rb") as f:
        data = f.read()
    manifest = json.load(open(os.path.join(REPO, "tests", "golden", "manifest.json")))
    top, left, height, width = manifest[name]["crop"]
    crop = tfnq.image_io.sample_image()[top:top + height, left:left + width]
    # The same file, decoded the same.
    assert again.compress(crop) == data
    np.testing.assert_array_equal(again.decompress(data), shipped.decompress(data))


def test_bad_arguments(exported, tmp_path):
    both = _export(f"--from_model={exported.paths[UNQ]}", "--checkpoint_dir=/nonexistent",
                   f"--export_dir={tmp_path}", "--name=x")
    assert both.returncode != 0 and "exactly one of" in both.stderr
    wrong_mode = _export(f"--from_model={exported.paths[UNQ]}", "--modes=UN+UQ+SR",
                         f"--export_dir={tmp_path}", "--name=x")
    assert wrong_mode.returncode != 0 and "cannot be exported as UN+UQ+SR" in wrong_mode.stderr
    assert not os.listdir(tmp_path)
