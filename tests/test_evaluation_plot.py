"""Tests for tfnq.evaluation.plot."""

import numpy as np
import pytest
from PIL import Image

from tfnq.evaluation import plot, results

# matplotlib's first two default colours (tab:blue, tab:orange).
BLUE = (31, 119, 180)
ORANGE = (255, 127, 14)


def _point(name, bpp, psnr, ms_ssim):
    db = None if ms_ssim is None else -10 * np.log10(1 - ms_ssim)
    return results.Point(name=name, bpp=bpp, psnr=psnr, ms_ssim=ms_ssim, ms_ssim_db=db,
                         settings={}, mean={})


def _curves(ms_ssim=True):
    def value(v):
        return v if ms_ssim else None
    return [
        results.Curve("linear UN+Q", "tfnq", (
            _point("lo", 0.3, 26.0, value(0.93)), _point("hi", 0.7, 29.0, value(0.96)))),
        results.Curve("JPEG", "classical", tuple(
            _point(f"q{q}", bpp, psnr, value(s)) for q, bpp, psnr, s in [
                (10, 0.25, 24.0, 0.90), (50, 0.8, 28.5, 0.95), (90, 2.0, 33.0, 0.98)])),
    ]


def _pixels_near(image, colour, tolerance=40):
    distance = np.abs(image[..., :3].astype(int) - np.array(colour)).sum(axis=-1)
    return int((distance < tolerance).sum())


def test_plot_two_panels(tmp_path):
    path = tmp_path / "out" / "rd.png"
    path.parent.mkdir()
    assert plot.plot_rd(_curves(), str(path), dataset="tiny") == ["psnr", "ms_ssim"]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("RGB"))
    assert width > 1.8 * height  # Two panels side by side.
    # Both curves were drawn (lines and markers in the first two default colours).
    assert _pixels_near(pixels, BLUE) > 200
    assert _pixels_near(pixels, ORANGE) > 200
    assert [p.name for p in path.parent.iterdir()] == ["rd.png"]


def test_plot_without_ms_ssim_has_one_panel(tmp_path):
    path = tmp_path / "rd.png"
    assert plot.plot_rd(_curves(ms_ssim=False), str(path)) == ["psnr"]
    with Image.open(path) as image:
        width, height = image.size
    assert width < 1.5 * height


def test_plot_replaces_an_existing_file(tmp_path):
    path = tmp_path / "rd.png"
    path.write_bytes(b"old")
    plot.plot_rd(_curves(), str(path), metrics=("psnr",))
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_plot_errors(tmp_path):
    with pytest.raises(ValueError, match="no rate-distortion points"):
        plot.plot_rd([], str(tmp_path / "a.png"))
    with pytest.raises(ValueError, match="no rate-distortion points"):
        plot.plot_rd(_curves(ms_ssim=False), str(tmp_path / "a.png"), metrics=("ms_ssim",))
    with pytest.raises(ValueError, match="unknown metric 'lpips'"):
        plot.plot_rd(_curves(), str(tmp_path / "a.png"), metrics=("lpips",))
    assert not (tmp_path / "a.png").exists()
