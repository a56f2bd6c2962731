"""End-to-end tests of scripts/evaluate.py: a shipped tfnq model and classical codecs."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import random_image, sample_crop
from PIL import Image

from tfnq import layout
from tfnq.evaluation import results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_NAME = "linear-0.016-un-q"
MODEL = os.path.join(REPO, "saved_models", MODEL_NAME)


def _evaluate(*args):
    env = {k: v for k, v in os.environ.items() if k != "TFNQ_MODELS"}
    env["PYTHONPATH"] = REPO
    return subprocess.run([sys.executable, os.path.join(REPO, "scripts", "evaluate.py"), *args],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Two small images (one in a subfolder) and a copy of the shipped model."""
    root = tmp_path_factory.mktemp("evaluate")
    (root / "images" / "sub").mkdir(parents=True)
    Image.fromarray(sample_crop(64)[:48]).save(root / "images" / "sub" / "a.png")  # 64x48
    Image.fromarray(random_image(40, 40, seed=5)).save(root / "images" / "b.png")  # 40x40
    model = root / "models" / "linear-0.016-un-q"
    shutil.copytree(MODEL, model)  # --update_metadata writes into it.
    return root


@pytest.fixture(scope="module")
def first_run(workspace):
    result = _evaluate(
        f"--eval_dir={workspace / 'images'}", f"--models={workspace / 'models' / MODEL_NAME}",
        "--codecs=jpeg,webp", "--qualities=jpeg:20,50,80", "--qualities=30,70",
        f"--output={workspace / 'out' / 'r.json'}", f"--plot={workspace / 'out' / 'rd.png'}",
        "--bd_anchor=JPEG", "--bd_anchor=webp,linear UN+Q", "--dataset_name=tiny",
        "--update_metadata", "--noprogress")
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_results_follow_the_schema(workspace, first_run):
    loaded = results.load_results(workspace / "out" / "r.json")  # Validates.
    assert loaded["dataset"] == "tiny"
    names = [e["name"] for e in loaded["entries"]]
    assert names == ["linear-0.016-un-q", "JPEG quality=20", "JPEG quality=50",
                     "JPEG quality=80", "WebP quality=30", "WebP quality=70"]
    for entry in loaded["entries"]:
        assert [r["image"] for r in entry["images"]] == ["b.png", "sub/a.png"]
        assert [(r["height"], r["width"]) for r in entry["images"]] == [(40, 40), (48, 64)]
        assert [r["ms_ssim_scales"] for r in entry["images"]] == [2, 3]
        assert all(0 < r["ms_ssim"] < 1 and r["psnr"] > 10 for r in entry["images"])
    model = loaded["entries"][0]
    assert model["kind"] == "tfnq" and model["curve"] == "linear UN+Q"
    assert model["settings"]["lmbda"] == 0.016 and model["settings"]["mode"] == "UN+Q"
    assert model["mean"]["bit_exact"] is True
    assert all(r["estimated_bpp"] > 0 for r in model["images"])
    jpeg = loaded["entries"][1]
    assert jpeg["kind"] == "classical" and jpeg["curve"] == "JPEG"
    assert jpeg["settings"]["quality"] == 20 and jpeg["settings"]["subsampling"] == "4:2:0"
    curves = {c.label: c for c in results.build_curves(loaded)}
    assert [p.settings["quality"] for p in curves["WebP"].points] == [30, 70]
    assert curves["JPEG"].points[0].bpp < curves["JPEG"].points[-1].bpp


def test_model_metadata_updated(workspace, first_run):
    with open(os.path.join(layout.version_dir(str(workspace / "models" / "linear-0.016-un-q")),
                           layout.METADATA_PATH)) as f:
        evaluation = json.load(f)["evaluation"]
    loaded = results.load_results(workspace / "out" / "r.json")
    mean = loaded["entries"][0]["mean"]
    assert evaluation == dict(dataset="tiny", bpp=mean["bpp"], psnr=mean["psnr"],
                              ms_ssim=mean["ms_ssim"], images=2)


def test_markdown_tables_and_plot(workspace, first_run):
    out = first_run.stdout
    assert out.startswith("## Rate-distortion on tiny (2 images)")
    assert "| linear UN+Q | linear-0.016-un-q | λ=0.016 |" in out
    assert "| JPEG | JPEG quality=50 | q=50 |" in out
    sections = {}
    for anchor in ["JPEG", "WebP", "linear UN+Q"]:
        title = f"## Bjontegaard deltas against {anchor} (pchip interpolation)"
        assert title in out
        sections[anchor] = out.split(title)[1].split("## ")[0]
    for anchor, other in [("JPEG", "WebP"), ("WebP", "JPEG")]:
        rows = [r for r in sections[anchor].splitlines() if r.startswith(f"| {other} |")]
        assert len(rows) == 1 and "n/a" not in rows[0].split("|")[3], rows
        float(rows[0].split("|")[3])  # BD-rate at equal PSNR was computed.
    # One model makes a one-point curve: no Bjontegaard delta, and the table says why.
    assert "| JPEG | 3 | n/a [1] |" in sections["linear UN+Q"]
    assert "[1] the anchor curve has 1 point(s)" in sections["linear UN+Q"]
    assert "Traceback" not in first_run.stderr
    with Image.open(workspace / "out" / "rd.png") as image:
        assert image.format == "PNG" and image.size[0] > image.size[1]


def test_resume_reuses_results_and_keeps_other_entries(workspace, first_run):
    before = results.load_results(workspace / "out" / "r.json")
    result = _evaluate(
        f"--eval_dir={workspace / 'images'}", f"--models={workspace / 'models' / MODEL_NAME}",
        "--codecs=jpeg,jpeg2000", "--qualities=jpeg:20,50,80", "--qualities=jpeg2000:30,36",
        f"--output={workspace / 'out' / 'r.json'}", "--resume", "--noprogress")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "reused 8 image results" in result.stderr  # The model and JPEG; not JPEG 2000.
    after = results.load_results(workspace / "out" / "r.json")
    names = [e["name"] for e in after["entries"]]
    assert names == [e["name"] for e in before["entries"]] + [
        "JPEG 2000 quality=30", "JPEG 2000 quality=36"]
    by_name = {e["name"]: e for e in after["entries"]}
    for entry in before["entries"]:  # Reused or kept as they were, timings included.
        assert by_name[entry["name"]] == entry
    assert by_name["JPEG 2000 quality=30"]["settings"]["quality_meaning"].startswith(
        "target PSNR")


@pytest.mark.parametrize("args, message", [
    (["--codecs=jpeg,bpg"], "tfnq: unknown codec 'bpg'"),
    ([], "tfnq: nothing to do"),
    (["--codecs=jpeg", "--qualities=jpeg:0"], "JPEG quality must be in [1, 100], got 0"),
    (["--codecs=jpeg", "--qualities=webp:50"], "names webp, which is not in --codecs"),
    (["--codecs=jpeg", "--bd_anchor=webp"], "no curve 'webp' (curves: 'JPEG')"),
])
def test_bad_flags(workspace, args, message):
    result = _evaluate(f"--eval_dir={workspace / 'images'}", *args)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("tfnq: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_merge_only(workspace, first_run):
    """Tables, BD and plot from existing result files (the earlier format too), no evaluation."""
    legacy = os.path.join(REPO, "docs", "results", "linear_valid.json")
    result = _evaluate(f"--merge={legacy}", f"--merge={workspace / 'out' / 'r.json'}",
                       "--bd_anchor=linear UN+Q", f"--plot={workspace / 'merged.png'}")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert out.startswith("## Rate-distortion on valid (30 images)")
    assert "| linear UN+UQ+SR | linear-0.004-un-uq-sr | λ=0.004 |" in out
    assert "| WebP | WebP quality=30 | q=30 |" in out  # From the second file.
    section = out.split("## Bjontegaard deltas against linear UN+Q")[1]
    row = next(r for r in section.splitlines() if r.startswith("| linear UN+UQ+SR | 2 |"))
    assert float(row.split("|")[3]) < 0  # UN+UQ+SR needs fewer bits than UN+Q (README).
    assert (workspace / "merged.png").exists()
    assert "warning: the results compared were evaluated on different images" in result.stderr
