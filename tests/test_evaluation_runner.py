"""Tests for tfnq.evaluation.runner with classical codecs (tfnq models: test_evaluate_script)."""

import numpy as np
import pytest
from conftest import random_image, sample_crop
from PIL import Image

from tfnq.evaluation import classical, metrics, results, runner


@pytest.fixture
def images(tmp_path):
    (tmp_path / "set" / "sub").mkdir(parents=True)
    paths = [tmp_path / "set" / "sub" / "a.png", tmp_path / "set" / "b.png"]
    Image.fromarray(sample_crop(64)[:48]).save(paths[0])
    Image.fromarray(random_image(40, 40, seed=3)).save(paths[1])
    return runner.load_images([str(p) for p in paths])


def test_load_images(images):
    assert [item.id for item in images] == ["sub/a.png", "b.png"]
    assert images[0].image.shape == (48, 64, 3) and images[0].image.dtype == np.uint8
    assert images[0].sha256 == results.file_sha256(images[0].path)
    assert images[1].key == ("b.png", 40, 40, images[1].sha256)


def test_evaluate_classical_rows(images):
    jpeg = classical.get_codec("jpeg")
    rows = runner.evaluate_classical(jpeg, 50, images)
    assert [r["image"] for r in rows] == ["sub/a.png", "b.png"]
    for row, item in zip(rows, images, strict=True):
        data = jpeg.encode(item.image, 50)
        decoded = jpeg.decode(data)
        assert row["bytes"] == len(data)
        assert row["bpp"] == 8 * len(data) / (item.image.shape[0] * item.image.shape[1])
        assert row["psnr"] == pytest.approx(metrics.psnr(item.image, decoded))
        assert row["ms_ssim"] == pytest.approx(metrics.ms_ssim(item.image, decoded))
        assert row["ms_ssim_scales"] == metrics.ms_ssim_scales(*item.image.shape[:2])
        assert row["encode_seconds"] >= 0 and row["decode_seconds"] >= 0
        assert row["sha256"] == item.sha256
        assert "bit_exact" not in row
    entry = runner.classical_entry(jpeg, 50, rows)
    assert entry["name"] == "JPEG quality=50" and entry["curve"] == "JPEG"
    assert entry["settings"]["quality"] == 50
    results.validate(results.new_results("t", None, [entry]))


def test_reused_rows_are_not_recomputed(images, monkeypatch):
    webp = classical.get_codec("webp")
    rows = runner.evaluate_classical(webp, 30, images)
    calls = []
    monkeypatch.setattr(webp, "_encode", lambda image, quality: calls.append(1) or b"")
    reuse = {results.row_key(rows[0]): rows[0]}  # Only the first image.
    with pytest.raises(ValueError, match="cannot decode"):  # The second is recomputed.
        runner.evaluate_classical(webp, 30, images, reuse=reuse)
    assert calls == [1]
    done = []
    again = runner.evaluate_classical(
        webp, 30, images, reuse={results.row_key(r): r for r in rows},
        on_image=lambda: done.append(1))
    assert again == rows and len(done) == 2 and calls == [1]


def test_evaluate_images_checks_the_decoded_shape(images):
    with pytest.raises(ValueError, match="decoded a \\[48, 64, 3\\] image as uint8 \\[2, 2, 3\\]"):
        runner.evaluate_images(lambda image: b"x", lambda data: np.zeros((2, 2, 3), np.uint8),
                               images)
