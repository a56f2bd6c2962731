"""scripts/ship.py: newest exports of a run into a models folder, retiring others,
within the budget."""

import json
import os
import shutil
import subprocess
import sys

from conftest import SR, UNQ

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fake_export(exported, root, name, source, run, step, coder="tf-rans"):
    target = root / name / str(step)
    shutil.copytree(exported.paths[source], target)
    meta_path = target / "assets.extra" / "tfnq.json"
    metadata = json.loads(meta_path.read_text())
    metadata["training"].update(run=run, steps=step)
    metadata["coder"] = coder  # (The fixture's exports code with tfc's range coder.)
    meta_path.write_text(json.dumps(metadata))


def _ship(tmp_path, *args):
    cmd = [sys.executable, os.path.join(REPO, "scripts", "ship.py"),
           f"--export_root={tmp_path / 'export'}", f"--models_dir={tmp_path / 'models'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=REPO))


def test_ship_newest_export_per_mode_and_retire(exported, tmp_path):
    _fake_export(exported, tmp_path / "export", "m-un-q", UNQ, "r", 100)
    _fake_export(exported, tmp_path / "export", "m-un-q", UNQ, "r", 200)
    _fake_export(exported, tmp_path / "export", "m-un-uq-sr", SR, "r", 200)
    _fake_export(exported, tmp_path / "export", "other-un-q", UNQ, "someone else", 300)
    models = tmp_path / "models"
    _fake_export(exported, models, "m-un-q", UNQ, "old", 1)  # Replaced.
    _fake_export(exported, models, "old-un-q", UNQ, "old", 1)  # Retired.
    _fake_export(exported, models, "keep-un-q", UNQ, "old", 1)
    result = _ship(tmp_path, "--runs=r", "--modes=UN+Q", "--retire=old-*")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(os.listdir(models)) == ["keep-un-q", "m-un-q"]
    assert os.listdir(models / "m-un-q") == ["200"]
    assert "ship   m-un-q/200" in result.stdout and "retire old-un-q" in result.stdout


def test_ship_refuses_unknown_runs_and_the_budget(exported, tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "export").mkdir()
    result = _ship(tmp_path, "--runs=nothing")
    assert result.returncode != 0 and "no export of run nothing" in result.stderr
    _fake_export(exported, tmp_path / "export", "big-un-q", UNQ, "r", 1)
    with open(tmp_path / "export" / "big-un-q" / "1" / "padding", "wb") as f:
        f.truncate(151 * 2**20)  # Sparse: counted, not written.
    result = _ship(tmp_path, "--runs=r", "--modes=UN+Q")
    assert result.returncode != 0 and "over the budget" in result.stderr
    assert os.listdir(tmp_path / "models") == []


def test_range_coded_exports_are_not_shipped(exported, tmp_path):
    _fake_export(exported, tmp_path / "export", "m-un-q", UNQ, "r", 100, coder="tfc-range")
    (tmp_path / "models").mkdir()
    result = _ship(tmp_path, "--runs=r", "--modes=UN+Q")
    assert result.returncode != 0
    assert "not rANS in core TF ops: re-export it" in result.stderr
    assert not os.listdir(tmp_path / "models")
