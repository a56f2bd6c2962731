"""scripts/campaign.py end to end on a tiny campaign: order, dependencies, state in the
campaign file, learning curves, milestone exports, and resuming a run from its export
when its checkpoints are gone."""

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write_images(folder, count=3, size=48):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(count):
        small = rng.uniform(0, 255, size=(size // 8, size // 8, 3)).astype(np.uint8)
        Image.fromarray(small).resize((size + 8 * i, size), Image.BILINEAR).save(
            os.path.join(folder, f"im{i}.png"))


def _campaign(tmp_path, *extra):
    cmd = [sys.executable, os.path.join(REPO, "scripts", "campaign.py"),
           f"--campaign={tmp_path / 'campaign.json'}",
           f"--checkpoint_root={tmp_path / 'ckpt'}", f"--export_root={tmp_path / 'export'}",
           f"--curves={tmp_path / 'curves'}", "--poll_seconds=1", *extra]
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def campaign_file(tmp_path):
    images = tmp_path / "images"
    _write_images(images)
    campaign = dict(
        settings=dict(train_glob=str(images), eval_glob=str(images)),
        defaults=dict(model="linear", init="jpeg", patch_size=32, batch_size=2, log_every=2,
                      checkpoint_every=2, eval_every=2, mode="UN+UQ+SR+E", lmbda=0.01),
        runs=[
            dict(name="second", init_from="run:first", flags=dict(num_steps=2)),
            dict(name="first", flags=dict(num_steps=4), export="tiny", export_at=[2]),
            dict(name="branch", init_from="run:first@2", flags=dict(num_steps=2)),
        ],
        levers=[dict(name="Branching", question="Does it help?", points=[
            dict(label="first at 2", run="first", step=2),
            dict(label="branch", run="branch"), dict(label="never run", run="nothing")])])
    # As written, "second" comes first but starts from "first": refused.
    path = tmp_path / "campaign.json"
    path.write_text(json.dumps(campaign))
    return path


def test_campaign_rejects_a_reference_to_a_later_run(tmp_path, campaign_file):
    result = _campaign(tmp_path, "--status")
    assert result.returncode != 0
    assert "does not name an earlier run" in result.stderr


# Trains and exports three tiny runs in subprocesses (~3 min).
@pytest.mark.slow
def test_campaign_trains_resumes_and_reports(tmp_path, campaign_file):
    campaign = json.loads(campaign_file.read_text())
    campaign["runs"][:2] = campaign["runs"][1::-1]  # Now "first" comes first.
    campaign_file.write_text(json.dumps(campaign))

    result = _campaign(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    state = {r["name"]: r["state"] for r in json.loads(campaign_file.read_text())["runs"]}
    assert state["first"]["status"] == "done" and state["first"]["step"] == 4
    assert state["second"]["status"] == "done" and state["second"]["step"] == 2
    assert state["first"]["exported_step"] == 4
    assert sorted(os.listdir(tmp_path / "export" / "tiny-un-uq-sr")) == ["2", "4"]
    log = (tmp_path / "ckpt" / "second.log").read_text()
    assert f"--init_from={tmp_path / 'ckpt' / 'first'}" in log
    # "branch" starts from first's milestone export at step 2, not its final weights.
    log = (tmp_path / "ckpt" / "branch.log").read_text()
    assert f"--init_from={tmp_path / 'export' / 'tiny-un-uq-sr' / '2'}" in log
    assert state["branch"]["status"] == "done"
    rows = _rows(tmp_path / "curves" / "first.csv")
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert {r["mode"] for r in rows} == {"UN+UQ+SR"}
    assert all(float(r["valid_bpp"]) > 0 and float(r["valid_psnr"]) > 0 for r in rows)
    assert float(rows[1]["cpu_hours"]) > float(rows[0]["cpu_hours"]) > 0
    assert state["first"]["valid"]["UN+UQ+SR"]["bpp"] == pytest.approx(
        float(rows[1]["valid_bpp"]))
    report = (tmp_path / "curves" / "README.md").read_text()
    assert "| first | done | 4 | 4 |" in report
    first_at_2 = rows[0]
    objective = float(first_at_2["valid_bpp"]) + 0.01 * 255.0**2 / 10 ** (
        float(first_at_2["valid_psnr"]) / 10)
    assert (f"| first at 2 | first | 2 | {float(first_at_2['cpu_hours']):.2f} | 0.01 | "
            f"{float(first_at_2['valid_bpp']):.4f} | {float(first_at_2['valid_psnr']):.2f} | "
            f"{objective:.4f} |") in report
    assert "| never run | nothing | (no point yet) |" in report
    assert (tmp_path / "curves" / "curves.png").exists()

    # Nothing left to do: a rerun starts no run.
    result = _campaign(tmp_path)
    assert result.returncode == 0 and "started" not in result.stdout

    # A new machine: the checkpoints are gone. A longer "first" resumes from its newest
    # export (step 4, its CPU hours) with fresh optimizers, not from step 0.
    shutil.rmtree(tmp_path / "ckpt")
    campaign = json.loads(campaign_file.read_text())
    campaign["runs"][0]["flags"]["num_steps"] = 6
    campaign_file.write_text(json.dumps(campaign))
    result = _campaign(tmp_path, "--only=first")
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / "ckpt" / "first.log").read_text()
    assert "Resumed from the export" in log and "at step 4 (fresh optimizers)" in log
    rows = _rows(tmp_path / "curves" / "first.csv")
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    assert float(rows[2]["cpu_hours"]) > float(rows[1]["cpu_hours"])
    first = json.loads(campaign_file.read_text())["runs"][0]["state"]
    assert first["step"] == 6 and first["exported_step"] == 6


def test_stop_saves_every_run_and_a_second_campaign_is_refused(tmp_path, campaign_file):
    import time
    campaign = json.loads(campaign_file.read_text())
    campaign["runs"] = [dict(name="long", flags=dict(num_steps=100000))]
    campaign["levers"] = []
    campaign_file.write_text(json.dumps(campaign))
    cmd = [sys.executable, os.path.join(REPO, "scripts", "campaign.py"),
           f"--campaign={campaign_file}", f"--checkpoint_root={tmp_path / 'ckpt'}",
           f"--export_root={tmp_path / 'export'}", f"--curves={tmp_path / 'curves'}",
           "--poll_seconds=1"]
    env = dict(os.environ, PYTHONPATH=REPO)
    running = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    try:
        log = tmp_path / "ckpt" / "long.log"
        deadline = time.time() + 300
        while time.time() < deadline and "step 4/" not in (
                log.read_text() if log.exists() else ""):
            time.sleep(1)
        assert "step 4/" in log.read_text()
        second = _campaign(tmp_path)
        assert second.returncode != 0 and "already running" in second.stderr
        # The run's folder is locked too: a training by hand cannot share it.
        manual = subprocess.run(
            [sys.executable, os.path.join(REPO, "scripts", "train.py"), "--model=linear",
             f"--train_glob={tmp_path / 'images'}",
             f"--checkpoint_dir={tmp_path / 'ckpt' / 'long'}", "--num_steps=1"],
            capture_output=True, text=True, env=env, timeout=300)
        assert manual.returncode != 0 and "in use by another training process" in manual.stderr
        stopped = _campaign(tmp_path, "--stop")
        assert stopped.returncode == 0 and "stopped the campaign" in stopped.stdout
        assert running.wait(timeout=120) == 0
    finally:
        if running.poll() is None:
            running.kill()
    assert "Stopped at step" in log.read_text()
    state = json.loads(campaign_file.read_text())["runs"][0]["state"]
    assert state["status"] == "stopped" and state["step"] >= 4
