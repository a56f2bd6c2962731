"""Rate-distortion plots as PNG files (matplotlib, Agg renderer, no display needed).

`plot_rd` draws one line with markers per curve: PSNR (dB) against bpp and,
in a second panel, MS-SSIM in dB (-10 log10(1 - MS-SSIM)) against bpp. tfnq
curves are solid lines, classical codecs dashed. The figure is rendered with
`matplotlib.figure.Figure` directly (not pyplot), so no global backend or
figure state is touched.
"""

import io

from tfnq import atomic_write

__all__ = [
    "plot_rd",
]

_PANELS = {
    "psnr": ("psnr", "PSNR (dB)", "RGB PSNR"),
    "ms_ssim": ("ms_ssim_db", "MS-SSIM (dB)", "MS-SSIM, -10 log10(1 - MS-SSIM)"),
}


def plot_rd(curves, path, dataset=None, metrics=("psnr", "ms_ssim"), dpi=120):
    """Writes an RD plot of some curves to a PNG file (atomically, replacing it).

    Args:
        curves: `tfnq.evaluation.results.Curve`s (as `build_curves` returns).
        path: Output PNG path.
        dataset: Name of the image set, for the title.
        metrics: Panels to draw, from "psnr" and "ms_ssim". A panel that no
            curve has values for is left out.
        dpi: Resolution.

    Returns:
        The list of panels drawn.

    Raises:
        ValueError: If there is nothing to plot or a metric is unknown.
    """
    from matplotlib.figure import Figure

    for metric in metrics:
        if metric not in _PANELS:
            raise ValueError(f"tfnq: unknown metric {metric!r} (known: {', '.join(_PANELS)})")
    curves = list(curves)
    panels = [m for m in metrics
              if any(c.pairs(_PANELS[m][0]) for c in curves)]
    if not panels:
        raise ValueError("tfnq: no rate-distortion points to plot")
    figure = Figure(figsize=(6.4 * len(panels), 5.2), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, metric in zip(axes, panels, strict=True):
        attribute, ylabel, title = _PANELS[metric]
        for i, curve in enumerate(curves):
            pairs = curve.pairs(attribute)
            if not pairs:
                continue
            x, y = zip(*pairs, strict=True)
            ax.plot(x, y, marker="os^vD<>phX*"[i % 11], markersize=5,
                    linestyle="-" if curve.kind == "tfnq" else "--",
                    linewidth=1.8 if curve.kind == "tfnq" else 1.3,
                    label=f"{curve.label} ({len(pairs)})")
        ax.set_xlabel("bits per pixel (file size)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, alpha=0.35)
        ax.legend(fontsize="small", loc="lower right")
    suptitle = "Rate-distortion" + (f" on {dataset}" if dataset else "")
    figure.suptitle(suptitle)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    atomic_write.write_bytes_atomic(path, buffer.getvalue(), force=True)
    return panels
