"""Distortion metrics for RGB images on the 0-255 scale: PSNR and MS-SSIM.

MSE and PSNR are computed in float64 over all three channels, with the peak 255.

MS-SSIM is `tf.image.ssim_multiscale` with its defaults (Wang et al. 2003):
an 11x11 Gaussian window with sigma 1.5, k1 = 0.01, k2 = 0.03, five scales with
the weights `MS_SSIM_WEIGHTS`, on the RGB channels (averaged over channels, as
TensorFlow does), with `max_val` 255.

**Small images.** Each of the five scales halves the image, and the coarsest one
must still hold the 11-pixel window: TensorFlow needs both sides to be at least
``(filter_size - 1) * 2**(scales - 1) + 1`` = 161 pixels. For smaller images
`ms_ssim` uses as many scales as fit (`ms_ssim_scales`), with the first weights
of `MS_SSIM_WEIGHTS` renormalized to sum to one: 81-160 px use four scales,
41-80 px three, 21-40 px two, 11-20 px one (plain SSIM). Such values are not
comparable with five-scale MS-SSIM; evaluation rows record the number of scales
used (`ms_ssim_scales`). Below 11 pixels a side no scale fits, and `ms_ssim`
returns NaN (stored as null in result files).
"""

import math

import numpy as np

from tfnq.image_io import ImageError

__all__ = [
    "MS_SSIM_FILTER_SIZE",
    "MS_SSIM_WEIGHTS",
    "ms_ssim",
    "ms_ssim_db",
    "ms_ssim_scales",
    "mse",
    "psnr",
]

def _as_float_pair(a, b):
    """Converts two images to float64 arrays of the same, non-empty shape."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ImageError(f"tfnq: image shapes differ: {list(a.shape)} vs {list(b.shape)}")
    if a.size == 0:
        raise ImageError("tfnq: cannot compare empty images")
    return a.astype(np.float64), b.astype(np.float64)


def mse(a, b):
    """Mean squared error between two images, computed in float64.

    Args:
        a: Image array (typically uint8).
        b: Image array of the same shape as `a`.

    Returns:
        The mean of the squared differences over all elements, as a float.

    Raises:
        ImageError: If the shapes differ or the images are empty.
    """
    a, b = _as_float_pair(a, b)
    return float(np.mean(np.square(a - b)))


def psnr(a, b, max_value=255.0):
    """Peak signal-to-noise ratio between two images, in dB.

    Args:
        a: Image array (typically uint8).
        b: Image array of the same shape as `a`.
        max_value: The largest possible sample value (255 for uint8).

    Returns:
        ``10 * log10(max_value**2 / mse(a, b))`` as a float, or ``inf`` for
        identical images.

    Raises:
        ImageError: If the shapes differ or the images are empty.
    """
    error = mse(a, b)
    if error == 0.0:
        return math.inf
    return float(10.0 * math.log10(float(max_value) ** 2 / error))


# The standard weights of the five scales (Wang et al. 2003; TensorFlow's default).
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_FILTER_SIZE = 11


def ms_ssim_scales(height, width, filter_size=MS_SSIM_FILTER_SIZE):
    """The number of MS-SSIM scales `ms_ssim` uses for an image of this size.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        filter_size: Side of the Gaussian window.

    Returns:
        An int from 0 to ``len(MS_SSIM_WEIGHTS)``: the largest number of scales
        `m` with ``min(height, width) >= (filter_size - 1) * 2**(m - 1) + 1``,
        or 0 if even one scale does not fit.
    """
    side = min(int(height), int(width))
    scales = 0
    for m in range(1, len(MS_SSIM_WEIGHTS) + 1):
        if side >= (filter_size - 1) * 2 ** (m - 1) + 1:
            scales = m
    return scales


def ms_ssim(a, b, max_value=255.0):
    """Multi-scale SSIM between two RGB images.

    Args:
        a: uint8 (or float on the 0-`max_value` scale) array [H, W, 3].
        b: Array of the same shape as `a`.
        max_value: The largest possible sample value (255 for uint8).

    Returns:
        MS-SSIM as a float (1.0 for identical images). For images smaller than
        161 pixels a side, fewer scales with renormalized weights (see the
        module docstring); NaN for images smaller than 11 pixels a side.

    Raises:
        ImageError: If the shapes differ, the images are empty or not [H, W, C].
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ImageError(f"tfnq: image shapes differ: {list(a.shape)} vs {list(b.shape)}")
    if a.ndim != 3 or a.size == 0:
        raise ImageError(f"tfnq: expected non-empty [H, W, C] images, got shape {list(a.shape)}")
    scales = ms_ssim_scales(a.shape[0], a.shape[1])
    if scales == 0:
        return math.nan
    weights = MS_SSIM_WEIGHTS
    if scales < len(MS_SSIM_WEIGHTS):  # The standard weights are used as they are.
        kept = np.asarray(MS_SSIM_WEIGHTS[:scales], dtype=np.float64)
        weights = tuple(float(w) for w in kept / kept.sum())
    import tensorflow as tf  # Imported here: the other metrics do not need TensorFlow.
    value = tf.image.ssim_multiscale(
        tf.constant(a, tf.float32), tf.constant(b, tf.float32), max_val=float(max_value),
        power_factors=weights, filter_size=MS_SSIM_FILTER_SIZE)
    return float(value.numpy())


def ms_ssim_db(value):
    """MS-SSIM on a decibel scale, ``-10 * log10(1 - value)``.

    Args:
        value: An MS-SSIM value (at most 1), or None.

    Returns:
        The value in dB as a float; ``inf`` for 1; None for None or NaN.
    """
    if value is None or math.isnan(value):
        return None
    if value >= 1.0:
        return math.inf
    return -10.0 * math.log10(1.0 - value)
