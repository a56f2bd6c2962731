"""Tests for tfnq.evaluation.bd, with results computed by hand."""

import math

import pytest

from tfnq.evaluation import bd

METHODS = ["pchip", "cubic", "akima"]
# A concave curve, as RD curves are: PSNR against bpp.
ANCHOR = [(0.125, 26.0), (0.25, 28.9), (0.5, 31.6), (1.0, 34.1), (2.0, 36.4)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("factor", [0.8, 1.0, 1.25, 2.0])
def test_rate_scaled_by_a_factor(method, factor):
    # Every PSNR is reached with `factor` times the bits: BD-rate = factor - 1, exactly,
    # whatever the interpolation (the log-rate curve is shifted by log10(factor)).
    test = [(rate * factor, psnr) for rate, psnr in ANCHOR]
    result = bd.bd_metrics(ANCHOR, test, method)
    assert result.bd_rate == pytest.approx(100 * (factor - 1), abs=1e-9)
    assert result.quality_overlap == pytest.approx(1.0)
    assert bd.bd_rate(ANCHOR, test, method) == pytest.approx(100 * (factor - 1), abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shift", [-1.5, 0.0, 0.75])
def test_psnr_shifted_by_a_constant(method, shift):
    test = [(rate, psnr + shift) for rate, psnr in ANCHOR]
    assert bd.bd_psnr(ANCHOR, test, method) == pytest.approx(shift, abs=1e-9)
    assert bd.bd_metrics(ANCHOR, test, method).rate_overlap == pytest.approx(1.0)


@pytest.mark.parametrize("method", METHODS)
def test_straight_lines_by_hand(method):
    # Anchor: PSNR = 30 + 10 x, test: PSNR = 32 + 8 x, with x = log10(bpp) in [0, 1];
    # four points on each line, so every interpolation reproduces the lines.
    xs = [0.0, 1 / 3, 2 / 3, 1.0]
    anchor = [(10 ** x, 30 + 10 * x) for x in xs]
    test = [(10 ** x, 32 + 8 * x) for x in xs]
    result = bd.bd_metrics(anchor, test, method)
    # BD-PSNR: mean of (32 + 8x) - (30 + 10x) = 2 - 2x over x in [0, 1] = 1 dB.
    assert result.bd_psnr == pytest.approx(1.0, abs=1e-9)
    # BD-rate: PSNR overlap [32, 40]; log-rates (p - 32) / 8 and (p - 30) / 10 differ by a
    # linear function of p whose mean is its value at p = 36: 0.5 - 0.6 = -0.1 decades.
    assert result.bd_rate == pytest.approx(100 * (10 ** -0.1 - 1), abs=1e-9)  # -20.57 %
    assert result.quality_overlap == pytest.approx(8 / 10)
    assert result.rate_overlap == pytest.approx(1.0)
    assert result.method == method


def test_swapping_the_curves_inverts_the_deltas():
    test = [(rate * 1.3, psnr + 0.2) for rate, psnr in ANCHOR]
    forward = bd.bd_metrics(ANCHOR, test)
    backward = bd.bd_metrics(test, ANCHOR)
    assert backward.bd_psnr == pytest.approx(-forward.bd_psnr, abs=1e-9)
    # Rate ratios invert: (1 + a)(1 + b) = 1 when the deltas are exact shifts in log-rate.
    shifted = [(rate * 1.3, psnr) for rate, psnr in ANCHOR]
    a = bd.bd_rate(ANCHOR, shifted) / 100
    b = bd.bd_rate(shifted, ANCHOR) / 100
    assert (1 + a) * (1 + b) == pytest.approx(1.0)


def test_order_of_points_does_not_matter():
    test = [(rate * 0.9, psnr + 0.1) for rate, psnr in ANCHOR]
    assert bd.bd_metrics(ANCHOR[::-1], test[::-1]) == bd.bd_metrics(ANCHOR, test)


def test_default_method_is_pchip():
    test = [(rate * 0.7, psnr) for rate, psnr in ANCHOR[:2]]
    assert bd.bd_metrics(ANCHOR, test).method == "pchip"
    # Two points suffice for pchip (linear in log-rate) but not for the cubic fit.
    assert bd.bd_rate(ANCHOR[:2], test) == pytest.approx(-30.0)
    with pytest.raises(ValueError, match="has 2 point.*'cubic' interpolation needs at least 4"):
        bd.bd_rate(ANCHOR[:2], test, "cubic")


@pytest.mark.parametrize("anchor, test, message", [
    (ANCHOR[:1], ANCHOR, "anchor curve has 1 point"),
    (ANCHOR, [], "test curve has 0 point"),
    (ANCHOR, [(0.5, 30.0), (1.0, 29.0), (2.0, 33.0)], "test curve is not monotonic: quality 29"),
    (ANCHOR, [(0.5, 30.0), (0.5, 31.0)], "two points at rate 0.5"),
    (ANCHOR, [(0.0, 30.0), (1.0, 33.0)], "rates <= 0"),
    (ANCHOR, [(0.5, math.nan), (1.0, 33.0)], "non-finite"),
    (ANCHOR, [(0.5, 40.0), (1.0, 45.0)], "do not overlap in quality"),
    (ANCHOR, [(4.0, 30.0), (8.0, 33.0)], "do not overlap in rate"),
    (ANCHOR, [0.5, 1.0], "sequence of \\(bpp, quality\\) pairs"),
])
def test_bad_curves(anchor, test, message):
    with pytest.raises(ValueError, match=message):
        bd.bd_metrics(anchor, test)


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown interpolation 'linear'"):
        bd.bd_rate(ANCHOR, ANCHOR, "linear")
