"""Markdown tables of rate-distortion results: per-point means and Bjontegaard deltas."""

from tfnq.evaluation import bd

__all__ = [
    "bd_table",
    "find_curve",
    "match_label",
    "points_table",
]


def _number(value, digits):
    return "–" if value is None else f"{value:.{digits}f}"


def _setting(point):
    settings = point.settings
    if "quality" in settings:
        return f"q={settings['quality']:g}"
    if settings.get("lmbda") is not None:
        return f"λ={settings['lmbda']:g}"
    return "–"


def points_table(curves):
    """A Markdown table of the means of every point, curve by curve.

    Args:
        curves: `tfnq.evaluation.results.Curve`s.

    Returns:
        The table as a str (no trailing newline).
    """
    lines = ["| curve | point | setting | bpp | PSNR (dB) | MS-SSIM | MS-SSIM (dB) | est. bpp "
             "| encode (s) | decode (s) | bit-exact |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for curve in curves:
        for p in curve.points:
            mean = p.mean
            bit_exact = "–" if "bit_exact" not in mean else str(mean["bit_exact"])
            lines.append(
                f"| {curve.label} | {p.name} | {_setting(p)} | {mean['bpp']:.4f} | "
                f"{_number(p.psnr, 2)} | {_number(p.ms_ssim, 4)} | {_number(p.ms_ssim_db, 2)} | "
                f"{_number(mean.get('estimated_bpp'), 4)} | "
                f"{_number(mean['encode_seconds'], 3)} | {_number(mean['decode_seconds'], 3)} | "
                f"{bit_exact} |")
    return "\n".join(lines)


def match_label(name, labels):
    """The curve label among `labels` that `name` means.

    Labels match case-insensitively; a classical codec's name or alias also
    matches its label (e.g. "jxl" matches "JPEG XL").

    Args:
        name: The requested label.
        labels: The available labels.

    Returns:
        The matching label.

    Raises:
        ValueError: Listing the available labels, if none matches.
    """
    labels = list(labels)
    wanted = name.strip().lower()
    try:
        from tfnq.evaluation import classical
        codec_label = classical.get_codec(name).label.lower()
    except ValueError:
        codec_label = None
    for candidates in ([wanted], [codec_label]):
        for label in labels:
            if label.lower() in candidates:
                return label
    known = ", ".join(repr(label) for label in labels) or "none"
    raise ValueError(f"tfnq: no curve {name!r} (curves: {known})")


def find_curve(curves, name):
    """The curve that `name` means (see `match_label`).

    Raises:
        ValueError: Listing the known labels, if there is none.
    """
    label = match_label(name, [c.label for c in curves])
    return next(c for c in curves if c.label == label)


def _delta(anchor, curve, metric, method):
    try:
        return bd.bd_metrics(anchor.pairs(metric), curve.pairs(metric), method), None
    except ValueError as e:
        return None, str(e).removeprefix("tfnq: ")


def bd_table(curves, anchor, method="pchip"):
    """A Markdown table of the Bjontegaard deltas of every curve against `anchor`.

    Columns: BD-rate at equal PSNR (%), BD-PSNR at equal rate (dB), BD-rate at
    equal MS-SSIM in dB (%), and the overlap of the PSNR ranges over which
    BD-rate is integrated. Negative BD-rates and positive BD-PSNRs favour the
    curve over the anchor. A delta that cannot be computed shows "n/a" with the
    reason below the table.

    Args:
        curves: `tfnq.evaluation.results.Curve`s.
        anchor: The anchor `Curve`.
        method: Interpolation, see `tfnq.evaluation.bd`.

    Returns:
        The table (and notes) as a str (no trailing newline).
    """
    lines = [f"| curve | points | BD-rate vs {anchor.label} (%) | BD-PSNR (dB) | "
             "BD-rate MS-SSIM (%) | PSNR overlap |",
             "|---|---|---|---|---|---|"]
    notes = []

    def cell(value, digits, error):
        if error is not None:
            if error not in notes:
                notes.append(error)
            return f"n/a [{notes.index(error) + 1}]"
        return f"{value:+.{digits}f}"

    for curve in curves:
        if curve is anchor:
            continue
        psnr, psnr_error = _delta(anchor, curve, "psnr", method)
        ssim, ssim_error = _delta(anchor, curve, "ms_ssim_db", method)
        rate_cell = cell(psnr and psnr.bd_rate, 2, psnr_error)
        psnr_cell = "n/a" if psnr is None else f"{psnr.bd_psnr:+.3f}"
        ssim_cell = cell(ssim and ssim.bd_rate, 2, ssim_error)
        overlap = "–" if psnr is None else f"{100 * psnr.quality_overlap:.0f}%"
        lines.append(f"| {curve.label} | {len(curve.points)} | {rate_cell} | {psnr_cell} | "
                     f"{ssim_cell} | {overlap} |")
    if notes:
        lines.append("")
        lines.extend(f"[{i}] {note}" for i, note in enumerate(notes, 1))
    return "\n".join(lines)
