"""Tests for tfnq.training and scripts/train.py (end to end on tiny synthetic data)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import tfnq
from tfnq import training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_schedule_follows_paper_shape():
    s = training.Schedule(num_steps=1000, lmbda=0.4, lambda_decay_steps=(50, 100),
                          lambda_decay_factor=0.5, learning_rate=1e-4, lr_decay_step=800,
                          lr_decay_factor=0.1, warmup_steps=20, alpha_start=1.0,
                          alpha_end=16.0)
    assert s.lmbda_at(0) == 0.4
    assert s.lmbda_at(50) == pytest.approx(0.2)
    assert s.lmbda_at(999) == pytest.approx(0.1)
    assert s.learning_rate_at(799) == pytest.approx(1e-4)
    assert s.learning_rate_at(800) == pytest.approx(1e-5)
    assert s.alpha_at(0) == 1.0
    assert s.alpha_at(999) == pytest.approx(16.0)
    assert s.alpha_at(499) == pytest.approx(1.0 + 15.0 * 499 / 999)
    assert s.transforms_frozen(19) and not s.transforms_frozen(20)
    assert s.learning_rate_at(0, group="density") == pytest.approx(1e-4)
    s.density_learning_rate = 1e-2
    assert s.learning_rate_at(900, group="density") == pytest.approx(1e-3)


def test_schedule_ramps_the_learning_rate_after_the_optimizers_start():
    s = training.Schedule(num_steps=100, lmbda=0.01, learning_rate=1e-3,
                          density_learning_rate=1e-2, lr_decay_step=50, lr_ramp_steps=10)
    assert s.learning_rate_at(0) == pytest.approx(1e-4)
    assert s.learning_rate_at(9) == pytest.approx(1e-3)
    assert s.learning_rate_at(30) == pytest.approx(1e-3)
    # Fresh optimizers at step 40 (a run resumed from an export): the ramp starts again,
    # on top of the decay.
    assert s.learning_rate_at(40, optimizer_start=40) == pytest.approx(1e-4)
    assert s.learning_rate_at(44, group="density", optimizer_start=40) == pytest.approx(5e-3)
    assert s.learning_rate_at(55, optimizer_start=40) == pytest.approx(1e-4 * 1.0)
    assert s.learning_rate_at(49, optimizer_start=40) == pytest.approx(1e-3)
    assert s.learning_rate_at(30, "rates") == pytest.approx(1e-3)  # Default: learning_rate.
    s.rate_learning_rate = 3e-3
    assert s.learning_rate_at(30, "rates") == pytest.approx(3e-3)


@pytest.mark.parametrize("clip_norm", [None, 1e-6])
def test_trainer_clips_the_transform_gradients(clip_norm):
    tf.random.set_seed(0)
    model = tfnq.LinearCodec(init="jpeg", init_step=16)
    schedule = training.Schedule(num_steps=10, lmbda=0.01, learning_rate=1e-3,
                                 clip_norm=clip_norm)
    trainer = training.Trainer(model, schedule)
    before = model.analysis.kernel.numpy().copy()
    out = trainer.train_step(_smooth_batch(0))
    assert np.isfinite(float(out["loss"])) and int(trainer.skipped.numpy()) == 0
    moved = np.abs(model.analysis.kernel.numpy() - before).max()
    # Adam's first step moves every weight with a gradient by about the learning rate
    # whatever the gradient's size; a clipped gradient of norm 1e-6 is below Adam's
    # epsilon (1e-7 per element), so the step is far smaller.
    if clip_norm is None:
        assert moved == pytest.approx(1e-3, rel=0.05)
    else:
        assert 0 < moved < 1e-4


def test_validate_matches_the_codec_estimate():
    """`validate` gives the bits `estimate_bits` of the coding path gives, over the image's
    own pixels, and the PSNR of the decoder's uint8 output."""
    from conftest import random_image

    tf.random.set_seed(0)
    model = tfnq.MeanScaleHyperprior(8, 12)
    images = [random_image(70, 50, seed=1), random_image(64, 128, seed=2)]
    result = training.validate(model, images, "UN+Q")
    model.prepare_coding("UN+Q")
    bpp, psnr = [], []
    for image in images:
        bits = float(model.estimate_bits(tf.constant(image)))
        bpp.append(bits / image.shape[0] / image.shape[1])
        decoded = model.reconstruct_image(tf.constant(image)).numpy()
        psnr.append(tfnq.evaluation.metrics.psnr(decoded, image))
    assert result["bpp"] == pytest.approx(np.mean(bpp), rel=2e-3)
    assert result["psnr"] == pytest.approx(np.mean(psnr), abs=1e-3)


def _smooth_batch(seed, n=4, size=32):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 255, size=(n, size // 8, size // 8, 3))
    x = tf.image.resize(base, [size, size], method="bilinear")
    return tf.cast(x, tf.float32)


@pytest.mark.parametrize("soft_round,expected_grads", [(False, False), (True, True)])
def test_trainer_reduces_loss_and_respects_warmup(soft_round, expected_grads):
    tf.random.set_seed(0)
    model = tfnq.LinearCodec(init="jpeg", init_step=16, soft_round=soft_round,
                             expected_grads=expected_grads)
    schedule = training.Schedule(num_steps=60, lmbda=0.01, learning_rate=1e-3,
                                 density_learning_rate=1e-2, warmup_steps=10)
    trainer = training.Trainer(model, schedule)
    kernel_before = model.analysis.kernel.numpy().copy()
    x = _smooth_batch(0)
    first = trainer.train_step(x)
    for _ in range(9):
        trainer.train_step(x)
    # Warm-up: only the density moved.
    np.testing.assert_array_equal(model.analysis.kernel.numpy(), kernel_before)
    for _ in range(50):
        last = trainer.train_step(x)
    assert not np.array_equal(model.analysis.kernel.numpy(), kernel_before)
    assert float(last["loss"]) < float(first["loss"])
    assert int(trainer.skipped.numpy()) == 0
    if soft_round:
        assert float(model.alpha.numpy()) == pytest.approx(16.0)


def _write_images(folder, count=4, size=48):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(count):
        small = rng.uniform(0, 255, size=(size // 8, size // 8, 3)).astype(np.uint8)
        image = Image.fromarray(small).resize((size + 8 * i, size), Image.BILINEAR)
        image.save(os.path.join(folder, f"im{i}.png"))


def _train(tmp_path, steps, mode, extra=()):
    images = str(tmp_path / "images")
    _write_images(images)
    cmd = [
        sys.executable, os.path.join(REPO, "scripts", "train.py"),
        f"--train_glob={images}", f"--checkpoint_dir={tmp_path / 'ckpt'}",
        f"--export_dir={tmp_path / 'export'}", "--name=tiny", f"--mode={mode}",
        f"--num_steps={steps}", "--patch_size=32", "--batch_size=2", "--log_every=5",
        "--checkpoint_every=5", "--init=jpeg", "--lmbda=0.01", *extra]
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


# Two train.py runs that each export (~2-3 min per mode): slow.
# test_train_script_hyperprior_resumes_and_initializes_from_another_run runs train.py
# and resumes in the fast suite; test_export.py exports trained models in process.
@pytest.mark.slow
@pytest.mark.parametrize("mode,exported", [
    ("UN", ["tiny-un-q", "tiny-un-uq"]),
    ("UN+UQ+SR+E", ["tiny-un-uq-sr"]),
])
def test_train_script_resumes_and_exports(tmp_path, mode, exported):
    result = _train(tmp_path, 6, mode)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "step 5/6" in result.stdout
    # Resume: a longer run continues from the checkpoint instead of starting over.
    result = _train(tmp_path, 10, mode)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "step 5/" not in result.stdout and "step 10/10" in result.stdout
    assert sorted(os.listdir(tmp_path / "export")) == exported
    codec = tfnq.load(str(tmp_path / "export" / exported[-1]))
    assert codec.metadata["training"]["steps"] == 10
    image = (np.random.default_rng(0).uniform(0, 255, (21, 30, 3))).astype(np.uint8)
    np.testing.assert_array_equal(codec.decompress(codec.compress(image)),
                                  codec.reconstruct(image))
    flags = json.load(open(tmp_path / "ckpt" / "flags.json"))
    assert flags["num_steps"] == 10


@pytest.mark.slow
def test_train_script_learns(tmp_path):
    """A longer run (slow; skipped in CI): the exported codec beats its untrained start."""
    result = _train(tmp_path, 300, "UN", extra=["--learning_rate=1e-3",
                                                "--density_learning_rate=1e-2"])
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("step ")]
    first = float(lines[0].split("loss ")[1].split()[0])
    last = float(lines[-1].split("loss ")[1].split()[0])
    assert last < 0.7 * first


def test_trainer_trains_the_hyperprior_and_respects_warmup():
    tf.random.set_seed(0)
    model = tfnq.MeanScaleHyperprior(8, 12)
    schedule = training.Schedule(num_steps=40, lmbda=0.01, learning_rate=1e-3, warmup_steps=5)
    trainer = training.Trainer(model, schedule)
    def kernel():  # SignalConv2D computes its kernel from a parameterization on access.
        return model.analysis.layers[0].kernel.numpy()

    kernel_before = kernel()
    x = _smooth_batch(0, n=2, size=64)
    first = trainer.train_step(x)
    for _ in range(4):
        trainer.train_step(x)
    np.testing.assert_array_equal(kernel(), kernel_before)
    for _ in range(35):
        last = trainer.train_step(x)
    assert not np.array_equal(kernel(), kernel_before)
    assert float(last["loss"]) < float(first["loss"])
    assert int(trainer.skipped.numpy()) == 0


def test_train_script_hyperprior_resumes_and_initializes_from_another_run(tmp_path):
    images = str(tmp_path / "images")
    _write_images(images, size=64)

    def run(checkpoint_dir, steps, *extra):
        cmd = [sys.executable, os.path.join(REPO, "scripts", "train.py"),
               "--model=hyperprior", "--num_filters=8", "--num_latents=12",
               f"--train_glob={images}", f"--checkpoint_dir={checkpoint_dir}",
               f"--num_steps={steps}", "--patch_size=64", "--batch_size=2", "--log_every=2",
               "--checkpoint_every=2", "--lmbda=0.01", *extra]
        env = dict(os.environ, PYTHONPATH=REPO)
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        return result

    first = tmp_path / "first"
    assert "step 4/4" in run(first, 4).stdout
    assert json.load(open(first / "model.json"))["architecture"] == "hyperprior"
    resumed = run(first, 6)
    assert "step 2/" not in resumed.stdout and "step 6/6" in resumed.stdout
    # A new run at another lambda starts from the first run's weights (with no steps
    # taken, its checkpoint holds exactly those weights).
    second = tmp_path / "second"
    result = run(second, 0, f"--init_from={first}", "--lmbda=0.02")
    assert "Initialized the model from" in result.stderr
    source, target = tf.train.load_checkpoint(str(first)), tf.train.load_checkpoint(str(second))
    names = [name for name, _ in tf.train.list_variables(str(first))
             if name.startswith("model/") and "OPTIMIZER_SLOT" not in name]
    assert len(names) > 20
    for name in names:
        np.testing.assert_array_equal(source.get_tensor(name), target.get_tensor(name))
    assert int(target.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) == 0
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run([sys.executable, os.path.join(REPO, "scripts", "train.py"),
                        "--model=hyperprior", f"--train_glob={images}",
                        f"--checkpoint_dir={tmp_path / 'third'}",
                        f"--init_from={tmp_path / 'empty'}"],
                       capture_output=True, env=dict(os.environ, PYTHONPATH=REPO),
                       timeout=600, check=True)
