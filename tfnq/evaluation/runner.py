"""Runs codecs over a set of images and returns result rows and entries.

For every image: the real file size (container included, bpp = 8 * bytes /
pixels), RGB PSNR and MS-SSIM against the original, and the encode and decode
wall times (one call each, single process). tfnq models also give the
estimated bits of the latents and whether the decoded image is bit-identical
to the encoder-side reconstruction.

The images are read once (`load_images`) and kept in memory as uint8 arrays.
Rows that a previous run computed for the same settings and the same image
files (same name, size and SHA-256) can be passed in as `reuse` and are
returned as they are instead of being recomputed.
"""

import dataclasses
import time

import numpy as np

from tfnq import image_io
from tfnq.evaluation import metrics, results

__all__ = [
    "EvalImage",
    "classical_entry",
    "evaluate_classical",
    "evaluate_images",
    "evaluate_tfnq",
    "load_images",
    "tfnq_entry",
]


@dataclasses.dataclass(frozen=True, eq=False)
class EvalImage:
    """An image to evaluate on.

    Attributes:
        id: Its name in result rows (relative path, see `results.image_ids`).
        path: The file.
        image: uint8 array [H, W, 3].
        sha256: Hex SHA-256 of the file.
    """

    id: str
    path: str
    image: np.ndarray
    sha256: str

    @property
    def key(self):
        """The `results.row_key` of this image's rows."""
        return (self.id, int(self.image.shape[0]), int(self.image.shape[1]), self.sha256)


def load_images(files):
    """Reads image files (any format `tfnq.image_io.read_image` reads) into `EvalImage`s.

    Raises:
        tfnq.image_io.ImageError: If a file cannot be read.
    """
    files = list(files)
    return [EvalImage(id=name, path=path, image=image_io.read_image(path),
                      sha256=results.file_sha256(path))
            for name, path in zip(results.image_ids(files), files, strict=True)]


def evaluate_images(compress, decompress, images, extra=None, reuse=None, on_image=None):
    """Per-image rows of one codec at one setting.

    Args:
        compress: Callable, uint8 [H, W, 3] -> bytes.
        decompress: Callable, bytes -> uint8 [H, W, 3].
        images: List of `EvalImage`.
        extra: Optional callable (image, decoded) -> dict of further row fields.
        reuse: Optional dict `results.row_key` -> row, rows to return unchanged.
        on_image: Optional callable, called with no arguments after each image.

    Returns:
        A list of row dicts, in the order of `images`.

    Raises:
        ValueError: If a decoded image does not have the shape of the original.
    """
    reuse = reuse or {}
    rows = []
    for item in images:
        if item.key in reuse:
            rows.append(dict(reuse[item.key]))
            if on_image:
                on_image()
            continue
        image = item.image
        height, width = image.shape[:2]
        start = time.perf_counter()
        data = bytes(compress(image))
        encode_seconds = time.perf_counter() - start
        start = time.perf_counter()
        decoded = np.asarray(decompress(data))
        decode_seconds = time.perf_counter() - start
        if decoded.shape != image.shape or decoded.dtype != np.uint8:
            raise ValueError(f"tfnq: {item.id}: decoded a {list(image.shape)} image as "
                             f"{decoded.dtype} {list(decoded.shape)}")
        ms_ssim = metrics.ms_ssim(image, decoded)
        row = dict(
            image=item.id, height=int(height), width=int(width), bytes=len(data),
            bpp=8 * len(data) / (height * width), psnr=metrics.psnr(image, decoded),
            ms_ssim=None if np.isnan(ms_ssim) else ms_ssim,
            ms_ssim_scales=metrics.ms_ssim_scales(height, width),
            encode_seconds=encode_seconds, decode_seconds=decode_seconds, sha256=item.sha256)
        if extra:
            row.update(extra(image, decoded))
        rows.append(row)
        if on_image:
            on_image()
    return rows


def evaluate_tfnq(codec, images, reuse=None, on_image=None):
    """Per-image rows of a loaded tfnq model.

    Rows also have ``estimated_bpp`` (the model's estimate of the latents'
    bits over the pixels) and ``bit_exact``.

    Args:
        codec: A `tfnq.client.Codec` (as `tfnq.client.load` returns).
        images: List of `EvalImage`.
        reuse: See `evaluate_images`.
        on_image: See `evaluate_images`.

    Returns:
        A list of row dicts.
    """
    if any(item.key not in (reuse or {}) for item in images):
        codec.compress(images[0].image[:8, :8])  # Traces the graph outside the timings.

    def extra(image, decoded):
        height, width = image.shape[:2]
        return dict(estimated_bpp=codec.estimate_bits(image) / (height * width),
                    bit_exact=bool((decoded == codec.reconstruct(image)).all()))

    return evaluate_images(codec.compress, codec.decompress, images, extra=extra, reuse=reuse,
                           on_image=on_image)


def evaluate_classical(codec, quality, images, reuse=None, on_image=None):
    """Per-image rows of a classical codec at one quality.

    Args:
        codec: A `tfnq.evaluation.classical.ClassicalCodec`.
        quality: A quality setting of that codec.
        images: List of `EvalImage`.
        reuse: See `evaluate_images`.
        on_image: See `evaluate_images`.

    Returns:
        A list of row dicts.
    """
    quality = codec.check_quality(quality)
    codec.check_available()
    return evaluate_images(lambda image: codec.encode(image, quality), codec.decode, images,
                           reuse=reuse, on_image=on_image)


def classical_entry(codec, quality, rows):
    """The result entry of a classical codec at one quality (see `results`)."""
    quality = codec.check_quality(quality)
    return results.make_entry(f"{codec.label} quality={quality}", "classical", codec.label,
                              codec.settings(quality), rows)


def tfnq_entry(codec, rows):
    """The result entry of a tfnq model (see `results`)."""
    return results.make_entry(codec.name, "tfnq", results.tfnq_curve_label(codec.metadata),
                              results.tfnq_settings(codec.metadata, codec.path), rows)
