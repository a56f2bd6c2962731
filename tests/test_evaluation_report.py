"""Tests for tfnq.evaluation.report: the Markdown tables."""

import pytest

from tfnq.evaluation import report, results


def _point(name, bpp, psnr, **settings):
    mean = dict(bpp=bpp, psnr=psnr, ms_ssim=None, ms_ssim_db=None, encode_seconds=0.01,
                decode_seconds=0.02)
    if "lmbda" in settings:
        mean.update(estimated_bpp=bpp * 0.9, bit_exact=True)
    return results.Point(name=name, bpp=bpp, psnr=psnr, ms_ssim=None, ms_ssim_db=None,
                         settings=settings, mean=mean)


ANCHOR = results.Curve("JPEG", "classical", tuple(
    _point(f"JPEG quality={q}", bpp, psnr, quality=q)
    for q, bpp, psnr in [(10, 0.25, 26.0), (50, 0.5, 29.0), (90, 1.0, 32.0)]))
# Half the rate of JPEG at every PSNR: BD-rate -50 %.
HALF = results.Curve("linear UN+Q", "tfnq", tuple(
    _point(f"m{lmbda}", p.bpp / 2, p.psnr, lmbda=lmbda)
    for lmbda, p in zip([0.001, 0.004, 0.016], ANCHOR.points, strict=True)))
LONELY = results.Curve("linear UN+UQ", "tfnq", (_point("one", 0.4, 28.0, lmbda=0.01),))


def test_points_table():
    lines = report.points_table([ANCHOR, HALF]).splitlines()
    assert lines[0].startswith("| curve | point | setting | bpp | PSNR (dB) | MS-SSIM |")
    assert len(lines) == 2 + 6
    assert lines[2] == ("| JPEG | JPEG quality=10 | q=10 | 0.2500 | 26.00 | – | – | – | "
                        "0.010 | 0.020 | – |")
    assert lines[5] == ("| linear UN+Q | m0.001 | λ=0.001 | 0.1250 | 26.00 | – | – | 0.1125 | "
                        "0.010 | 0.020 | True |")


def test_bd_table():
    table = report.bd_table([ANCHOR, HALF, LONELY], ANCHOR)
    lines = table.splitlines()
    assert lines[0] == ("| curve | points | BD-rate vs JPEG (%) | BD-PSNR (dB) | "
                        "BD-rate MS-SSIM (%) | PSNR overlap |")
    assert lines[2].startswith("| linear UN+Q | 3 | -50.00 | +")
    assert lines[2].endswith("| n/a [1] | 100% |")  # No MS-SSIM values.
    assert lines[3] == "| linear UN+UQ | 1 | n/a [2] | n/a | n/a [1] | – |"
    assert lines[5] == "[1] the anchor curve has 0 point(s); 'pchip' interpolation needs at least 2"
    assert lines[6] == "[2] the test curve has 1 point(s); 'pchip' interpolation needs at least 2"
    assert "JPEG |" not in table.split("\n", 2)[2]  # The anchor is not compared with itself.


@pytest.mark.parametrize("name, label", [
    ("JPEG", "JPEG"), ("jpeg", "JPEG"), ("jpg", "JPEG"), ("LINEAR un+q", "linear UN+Q")])
def test_match_label(name, label):
    assert report.match_label(name, ["linear UN+Q", "JPEG"]) == label
    assert report.find_curve([HALF, ANCHOR], name).label == label


def test_match_label_unknown():
    with pytest.raises(ValueError, match="no curve 'webp' \\(curves: 'JPEG', 'linear UN\\+Q'\\)"):
        report.match_label("webp", ["JPEG", "linear UN+Q"])
    with pytest.raises(ValueError, match="curves: none"):
        report.find_curve([], "JPEG")
