"""Smoke test of scripts/benchmark_training.py on a tiny hyperprior."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Builds and times both trainers in a subprocess (~1 min).
@pytest.mark.slow
def test_script_prints_a_row_per_configuration():
    env = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", "benchmark_training.py"),
         "--configs=tfc,tfnq", "--num_filters=8", "--num_latents=12",
         "--patch_size=64", "--batch_size=2", "--steps=1", "--warmup=1"],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split("|")[1].strip(): line for line in result.stdout.splitlines()
            if line.startswith("| tf")}
    assert set(rows) == {"tfc", "tfnq"}, result.stdout
    for line in rows.values():
        assert "failed" not in line, line
        assert float(line.split("|")[2]) > 0, line
    assert rows["tfnq"].rstrip(" |").endswith("x")  # Ratio against tfc.
