"""Rate-distortion evaluation of tfnq models against classical codecs.

* `metrics`: RGB PSNR and MS-SSIM (with a documented fallback for small images).
* `classical`: JPEG, WebP, JPEG 2000, AVIF, JPEG XL and HEIF behind one interface.
* `runner`: runs a tfnq model or a classical codec over images, giving result rows.
* `results`: the JSON schema of result files, loading, merging, RD curves.
* `bd`: BD-rate and BD-PSNR between two RD curves.
* `report`: Markdown tables; `plot`: RD plots as PNG.

`scripts/evaluate.py` puts these together. Importing this package does not
import TensorFlow or matplotlib; they are loaded when first needed.
"""

from tfnq.evaluation import bd, classical, metrics, plot, report, results, runner
from tfnq.evaluation.bd import BDResult, bd_metrics, bd_psnr, bd_rate
from tfnq.evaluation.classical import (
    CODECS,
    ClassicalCodec,
    CodecUnavailableError,
    available_codecs,
    get_codec,
    resolve_codecs,
)
from tfnq.evaluation.metrics import ms_ssim, ms_ssim_db, ms_ssim_scales, mse, psnr
from tfnq.evaluation.plot import plot_rd
from tfnq.evaluation.report import bd_table, points_table
from tfnq.evaluation.results import (
    Curve,
    Point,
    build_curves,
    load_results,
    merge_results,
    new_results,
    save_results,
    validate,
)
from tfnq.evaluation.runner import (
    EvalImage,
    classical_entry,
    evaluate_classical,
    evaluate_images,
    evaluate_tfnq,
    load_images,
    tfnq_entry,
)

__all__ = [
    "BDResult",
    "CODECS",
    "ClassicalCodec",
    "CodecUnavailableError",
    "Curve",
    "EvalImage",
    "Point",
    "available_codecs",
    "bd",
    "bd_metrics",
    "bd_psnr",
    "bd_rate",
    "bd_table",
    "build_curves",
    "classical",
    "classical_entry",
    "evaluate_classical",
    "evaluate_images",
    "evaluate_tfnq",
    "get_codec",
    "load_images",
    "load_results",
    "merge_results",
    "metrics",
    "ms_ssim",
    "ms_ssim_db",
    "ms_ssim_scales",
    "mse",
    "new_results",
    "plot",
    "plot_rd",
    "points_table",
    "psnr",
    "report",
    "resolve_codecs",
    "results",
    "runner",
    "save_results",
    "tfnq_entry",
    "validate",
]
