"""Bjontegaard deltas between two rate-distortion curves: BD-rate and BD-PSNR.

A thin, validating wrapper around the `bjontegaard` package (Herglotz et al.,
FAU Erlangen-Nuremberg; https://github.com/FAU-LMS/bjontegaard), which
implements the measure of VCEG-M33 (Bjontegaard 2001):

* **BD-rate** (`bd_rate`): the average relative change in bitrate, in percent,
  at equal quality: the rate is interpolated as a function of the quality in
  the log10-rate domain, both curves are integrated over the quality interval
  they share, and the mean log-rate difference d becomes ``(10**d - 1) * 100``.
  Negative means the test curve needs fewer bits than the anchor.
* **BD-PSNR** (`bd_psnr`): the average quality difference (in dB for PSNR) at
  equal rate, with quality interpolated over log10-rate on the shared
  log-rate interval. Positive means the test curve is better.

Interpolation (`method`):

* ``"pchip"`` (default): piecewise cubic Hermite interpolation through the
  points (monotone, no overshoot), as in the JCT-VC / JVET common-test-condition
  spreadsheets (JCTVC-L1100, JVET-T2010; the package matches the JVET sheet to
  10 decimals); needs at least 2 points (with exactly 2 it is linear in
  log-rate).
* ``"cubic"``: the original VCEG-M33 least-squares cubic polynomial over all
  points; needs at least 4 points.
* ``"akima"``: Akima splines; at least 2 points.

Curves are sequences of (bpp, quality) pairs, quality being PSNR in dB (or any
other quality in dB, e.g. MS-SSIM in dB). They are sorted by rate and must be
strictly monotonic: rate > 0, finite, and quality strictly increasing with
rate. The two curves must overlap in quality (for BD-rate) and in rate (for
BD-PSNR); the fraction of overlap is returned by `bd_metrics` so that tables
can show it (the package's warning below 75 % overlap is silenced).
"""

import dataclasses
import math
import warnings

import numpy as np

__all__ = [
    "BDResult",
    "METHODS",
    "MIN_POINTS",
    "bd_metrics",
    "bd_psnr",
    "bd_rate",
]

# Interpolation method -> the fewest points it needs.
MIN_POINTS = {"pchip": 2, "akima": 2, "cubic": 4}
METHODS = tuple(MIN_POINTS)


@dataclasses.dataclass(frozen=True)
class BDResult:
    """Bjontegaard deltas of a test curve against an anchor curve.

    Attributes:
        bd_rate: Average bitrate change at equal quality, in percent.
        bd_psnr: Average quality change at equal rate (dB for PSNR).
        quality_overlap: Fraction (0-1] of the union of the two quality ranges
            that both curves cover (the BD-rate integration interval).
        rate_overlap: The same for the log-rate ranges (BD-PSNR interval).
        method: The interpolation method.
    """

    bd_rate: float
    bd_psnr: float
    quality_overlap: float
    rate_overlap: float
    method: str


def _check_curve(curve, method, what):
    """Validates one curve and returns (rates, qualities) sorted by rate."""
    try:
        points = np.asarray([(float(r), float(q)) for r, q in curve], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"tfnq: the {what} curve must be a sequence of (bpp, quality) pairs") from None
    needed = MIN_POINTS[method]
    if len(points) < needed:
        raise ValueError(
            f"tfnq: the {what} curve has {len(points)} point(s); {method!r} interpolation "
            f"needs at least {needed}")
    if not np.isfinite(points).all():
        raise ValueError(f"tfnq: the {what} curve has non-finite values: {points.tolist()}")
    if (points[:, 0] <= 0).any():
        raise ValueError(f"tfnq: the {what} curve has rates <= 0: {points[:, 0].tolist()}")
    points = points[np.argsort(points[:, 0], kind="stable")]
    rates, qualities = points[:, 0], points[:, 1]
    for i in range(1, len(points)):
        if rates[i] == rates[i - 1]:
            raise ValueError(f"tfnq: the {what} curve has two points at rate {rates[i]:g}")
        if qualities[i] <= qualities[i - 1]:
            raise ValueError(
                f"tfnq: the {what} curve is not monotonic: quality {qualities[i]:g} at "
                f"{rates[i]:g} bpp is not above {qualities[i - 1]:g} at {rates[i - 1]:g} bpp")
    return rates, qualities


def _overlap(a, b):
    """Fraction of the union of the ranges of a and b that both cover."""
    union = max(a.max(), b.max()) - min(a.min(), b.min())
    shared = min(a.max(), b.max()) - max(a.min(), b.min())
    return max(shared, 0.0) / union if union > 0 else 0.0


def bd_metrics(anchor, test, method="pchip"):
    """BD-rate and BD-PSNR of `test` against `anchor`, with the overlaps.

    Args:
        anchor: The reference curve, a sequence of (bpp, quality) pairs.
        test: The curve to compare, the same.
        method: "pchip" (default), "cubic" (VCEG-M33) or "akima".

    Returns:
        A `BDResult`.

    Raises:
        ValueError: If a curve has too few points, non-finite or non-positive
            rates, duplicate rates or is not monotonic, or if the curves do
            not overlap in quality or in rate, or `method` is unknown.
    """
    if method not in MIN_POINTS:
        raise ValueError(f"tfnq: unknown interpolation {method!r} (known: {', '.join(METHODS)})")
    rate_a, quality_a = _check_curve(anchor, method, "anchor")
    rate_t, quality_t = _check_curve(test, method, "test")
    quality_overlap = _overlap(quality_a, quality_t)
    rate_overlap = _overlap(np.log10(rate_a), np.log10(rate_t))
    if quality_overlap <= 0:
        raise ValueError(
            f"tfnq: the curves do not overlap in quality (anchor {quality_a.min():.3f}-"
            f"{quality_a.max():.3f}, test {quality_t.min():.3f}-{quality_t.max():.3f}); "
            "BD-rate is undefined")
    if rate_overlap <= 0:
        raise ValueError(
            f"tfnq: the curves do not overlap in rate (anchor {rate_a.min():.4g}-"
            f"{rate_a.max():.4g} bpp, test {rate_t.min():.4g}-{rate_t.max():.4g} bpp); "
            "BD-PSNR is undefined")
    import bjontegaard  # Imported here: it imports matplotlib.pyplot.

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Overlap warnings: reported instead.
        rate = bjontegaard.bd_rate(rate_a, quality_a, rate_t, quality_t, method,
                                   require_matching_points=False, min_overlap=0)
        psnr = bjontegaard.bd_psnr(rate_a, quality_a, rate_t, quality_t, method,
                                   require_matching_points=False, min_overlap=0)
    rate, psnr = float(rate), float(psnr)
    if not (math.isfinite(rate) and math.isfinite(psnr)):
        raise ValueError(f"tfnq: the Bjontegaard deltas are not finite ({rate}, {psnr})")
    return BDResult(bd_rate=rate, bd_psnr=psnr, quality_overlap=float(quality_overlap),
                    rate_overlap=float(rate_overlap), method=method)


def bd_rate(anchor, test, method="pchip"):
    """Average bitrate change of `test` against `anchor` at equal quality, in percent.

    Args:
        anchor: The reference curve, a sequence of (bpp, PSNR) pairs.
        test: The curve to compare.
        method: "pchip" (default), "cubic" (VCEG-M33) or "akima".

    Returns:
        The BD-rate in percent (e.g. -20.0: 20 % fewer bits at the same PSNR).

    Raises:
        ValueError: See `bd_metrics`.
    """
    return bd_metrics(anchor, test, method).bd_rate


def bd_psnr(anchor, test, method="pchip"):
    """Average PSNR change of `test` against `anchor` at equal rate, in dB.

    Args:
        anchor: The reference curve, a sequence of (bpp, PSNR) pairs.
        test: The curve to compare.
        method: "pchip" (default), "cubic" (VCEG-M33) or "akima".

    Returns:
        The BD-PSNR in dB (positive: the test curve is better).

    Raises:
        ValueError: See `bd_metrics`.
    """
    return bd_metrics(anchor, test, method).bd_psnr
