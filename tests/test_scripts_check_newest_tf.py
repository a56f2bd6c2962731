"""Tests of scripts/check_newest_tf.py: the reference it writes and its comparison.

A tiny untrained model exported with the default coder (rANS in core TF ops) and a
golden file of its own stand in for the shipped models: the reference written in this
venv must pass the check in this venv, a tampered one must fail it, and where
`make newest-tf` has built `.venv-newest-tf` the real check runs there.
"""

import json
import os
import subprocess
import sys

import pytest
from conftest import make_model, random_image

# The script in subprocesses after an export (~1.5 min): slow. `make test` itself runs
# its check on every shipped model in the newest TensorFlow.
pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "check_newest_tf.py")
NEWEST_TF = os.path.join(REPO, ".venv-newest-tf", "bin", "python")
NAME = "tiny-un-uq"


def _run(python, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([python, SCRIPT, *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The exported model, its golden files and the reference written from them."""
    import tensorflow as tf

    from tfnq import export
    root = tmp_path_factory.mktemp("newest_tf")
    models, golden = root / "models", root / "golden"
    (path,) = export.export_trained(make_model(), str(models), "tiny", modes=["UN+UQ"],
                                    training={"steps": 0})
    assert os.path.basename(os.path.dirname(path)) == NAME
    loaded = tf.saved_model.load(path)
    data = loaded.signatures["compress"](image=tf.constant(random_image(24, 40, seed=4)))
    data = data["bitstring_bytes"]
    image = loaded.signatures["decompress"](bitstring=data)["image"]
    golden.mkdir()
    (golden / f"{NAME}.tfnq").write_bytes(data.numpy())
    (golden / f"{NAME}.png").write_bytes(tf.io.encode_png(image).numpy())
    reference = root / "symbols.json"
    result = _run(sys.executable, f"--models_dir={models}", f"--golden_dir={golden}",
                  f"--write_reference={reference}")
    assert result.returncode == 0, result.stderr[-3000:]
    flags = [f"--models_dir={models}", f"--golden_dir={golden}"]
    return dict(root=root, flags=flags, reference=reference)


def _row(stdout, threads=1):
    """The cells of the model's table row at `threads`."""
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == NAME and cells[2] == str(threads):
            return dict(zip(["model", "version", "threads", "loads", "symbols", "rows",
                             "diff", "bit_exact", "bf16", "reencode"], cells, strict=True))
    raise AssertionError(f"no row of {NAME} at {threads} thread(s) in:\n{stdout}")


def test_reference(setup):
    import tensorflow as tf
    with open(setup["reference"]) as f:
        reference = json.load(f)
    assert reference["tensorflow"] == tf.__version__
    entry = reference["models"][NAME]
    assert entry["coder"] == "tf-rans" and entry["version"] == "1"
    assert sorted(entry["sections"]) == ["0"]  # A linear codec: one section.
    section = entry["sections"]["0"]
    assert section["symbols_count"] == section["rows_count"] > 0
    assert sorted(entry["images"]) == ["decompress", "decompress_xla"]
    # Both forms decode the golden file to the same image.
    assert entry["images"]["decompress"] == entry["images"]["decompress_xla"]
    assert entry["images"]["decompress"]["shape"] == [24, 40, 3]
    assert sorted(entry["files"]) == ["compress", "compress_xla"]


def test_check_passes_against_its_own_reference(setup):
    output = setup["root"] / "report.md"
    result = _run(sys.executable, *setup["flags"], f"--reference={setup['reference']}",
                  "--threads=1", f"--output={output}")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    row = _row(result.stdout)
    assert row["loads"] == row["symbols"] == row["rows"] == row["bit_exact"] == "yes"
    assert row["diff"] == "0 / 0" and row["reencode"] == "yes / yes"
    assert row["bf16"] == "-"  # A linear codec: float32 only.
    report = output.read_text()
    assert report.strip() == result.stdout.strip()
    assert "check_newest_tf.py" in report and "--threads=1" in report
    assert "1 model, 0 failed." in report


def test_check_fails_on_other_symbols_or_a_missing_model(setup):
    with open(setup["reference"]) as f:
        reference = json.load(f)
    section = reference["models"][NAME]["sections"]["0"]
    section["symbols_sha256"] = "0" * 64
    reference["models"]["gone-un-q"] = reference["models"][NAME]
    tampered = setup["root"] / "tampered.json"
    tampered.write_text(json.dumps(reference))
    result = _run(sys.executable, *setup["flags"], f"--reference={tampered}", "--threads=1")
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    row = _row(result.stdout)
    assert row["loads"] == "yes" and row["symbols"] == "no" and row["rows"] == "yes"
    assert row["bit_exact"] == "yes"  # Same image: only the hash of the symbols was changed.
    assert "| gone-un-q | - | 1 | no |" in result.stdout
    assert "no model gone-un-q in the models folder" in result.stdout
    assert "the decoded symbols differ" in result.stdout
    assert "2 models, 2 failed: gone-un-q, tiny-un-uq." in result.stdout


def test_check_fails_without_a_reference(setup):
    result = _run(sys.executable, *setup["flags"],
                  f"--reference={setup['root'] / 'missing.json'}", "--threads=1")
    assert result.returncode == 1
    assert "cannot read the reference" in result.stderr


@pytest.mark.skipif(not os.path.exists(NEWEST_TF),
                    reason="no .venv-newest-tf (build it with `make newest-tf`)")
def test_check_in_the_newest_tensorflow(setup):
    """The real check: stock TensorFlow alone, at 1 and 2 intra-op threads (workers)."""
    probe = subprocess.run(  # Outside the repository: its tfnq/ is not on the path.
        [NEWEST_TF, "-c", "import importlib.util as u; print(u.find_spec('tfnq'), "
         "u.find_spec('tensorflow_compression'))"], capture_output=True, text=True,
        cwd=setup["root"])
    assert probe.stdout.split() == ["None", "None"], probe.stdout + probe.stderr
    result = _run(NEWEST_TF, *setup["flags"], f"--reference={setup['reference']}",
                  "--threads=1,2")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    for threads in (1, 2):
        row = _row(result.stdout, threads)
        assert row["loads"] == row["symbols"] == row["rows"] == "yes", row
    assert "tfnq importable: no, tensorflow-compression importable: no" in result.stdout
