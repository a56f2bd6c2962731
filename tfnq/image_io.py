"""Robust image reading and writing for the command line and scripts.

Every problem with a user-supplied file is reported as an `ImageError` whose
message is a single line starting with ``"tfnq: "``, ready to be printed.

Reading (`read_image`) always yields a ``uint8`` array of shape ``[H, W, 3]``:

* greyscale (``1``, ``L``, 16-bit and 32-bit integer, float) is replicated to
  three channels;
* 16-bit samples (``I;16*`` and ``I``) are mapped from 0..65535 to 0..255 with
  rounding; float samples (``F``) are taken to be on the 0..255 scale (the
  Pillow convention), rounded and clipped;
* an alpha channel is dropped (not composited);
* palette images are expanded to RGB, CMYK and other colour spaces are
  converted to RGB;
* the EXIF orientation tag is applied;
* for animated images, the first frame is used.

`write_png` writes atomically (`tfnq.atomic_write`): no partially written output is
ever left behind. Distortion metrics are in `tfnq.evaluation.metrics`.
"""

import io
import os
import struct
import threading
import warnings

import numpy as np
from PIL import Image, ImageOps

from tfnq import atomic_write

__all__ = [
    "ImageError",
    "read_image",
    "sample_image",
    "sample_image_path",
    "write_png",
]

_SAMPLE_IMAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "astronaut.png")

# `Image.MAX_IMAGE_PIXELS` is process-global; it is only changed while this
# lock is held, and restored right after the header has been parsed.
_PIL_LIMIT_LOCK = threading.Lock()

# Exceptions Pillow raises for malformed, truncated or unsupported files.
_PIL_READ_ERRORS = (
    Image.UnidentifiedImageError,
    Image.DecompressionBombError,
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    EOFError,
    struct.error,
    MemoryError,
    ZeroDivisionError,
    OverflowError,
    RuntimeError,
)


class ImageError(ValueError):
    """A bad image file or image array; the message is one line starting with "tfnq: "."""


def _one_line(error):
    """Returns a short single-line description of an exception."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


# --------------------------------------------------------------------------- reading


def _scale_16bit(values):
    """Maps integer samples on the 0..65535 scale to uint8 with rounding."""
    values = np.clip(values.astype(np.int64), 0, 65535)
    return ((values * 255 + 32767) // 65535).astype(np.uint8)


def _to_rgb_array(image):
    """Converts a loaded Pillow image of any supported mode to a uint8 [H, W, 3] array.

    Args:
        image: A loaded `PIL.Image.Image`.

    Returns:
        A C-contiguous uint8 array of shape [H, W, 3].

    Raises:
        ImageError: If the image mode cannot be converted to RGB.
    """
    mode = image.mode
    if mode == "RGB":
        rgb = np.asarray(image)
    elif mode in ("RGBA", "RGBX"):
        rgb = np.asarray(image)[..., :3]
    elif mode in ("P", "PA"):
        # Via RGBA so that palette transparency is handled without warnings;
        # the alpha channel is then dropped.
        rgb = np.asarray(image.convert("RGBA"))[..., :3]
    elif mode in ("1", "L", "LA", "La"):
        grey = np.asarray(image.convert("L"))
        rgb = np.repeat(grey[..., np.newaxis], 3, axis=-1)
    elif mode == "I" or mode.startswith("I;16"):
        grey = _scale_16bit(np.asarray(image))
        rgb = np.repeat(grey[..., np.newaxis], 3, axis=-1)
    elif mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0)
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        rgb = np.repeat(grey[..., np.newaxis], 3, axis=-1)
    else:  # CMYK, YCbCr, LAB, HSV, RGBa, ...
        try:
            rgb = np.asarray(image.convert("RGB"))
        except (ValueError, OSError) as e:
            raise ImageError(f"tfnq: unsupported image mode {mode!r}: {_one_line(e)}") from None
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ImageError(f"tfnq: unsupported image mode {mode!r} (got array shape {rgb.shape})")
    return rgb


def _open_and_load(path, max_pixels):
    """Opens `path` with Pillow, checks its size and decodes the first frame.

    Returns:
        The loaded image (EXIF orientation applied), detached from the file.
    """
    with warnings.catch_warnings():
        # Pillow warns above `MAX_IMAGE_PIXELS`; the explicit check below then
        # rejects the image with a more informative message.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with _PIL_LIMIT_LOCK:
            saved_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = max_pixels
            try:
                image = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved_limit
    with image:
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ImageError(f"tfnq: {path}: image has zero size ({width}x{height})")
        if width * height > max_pixels:
            raise ImageError(
                f"tfnq: {path}: image too large ({width}x{height} = {width * height} pixels, "
                f"limit {max_pixels})")
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)
        image.load()
        try:
            transposed = ImageOps.exif_transpose(image)
        except Exception:  # A malformed EXIF block is not fatal.
            transposed = None
        if transposed is None:
            transposed = image.copy()
        return transposed


def read_image(path, max_pixels=1 << 28):
    """Reads an image file as a uint8 RGB array.

    Any format Pillow can decode is accepted. Greyscale is replicated to three
    channels, 16-bit samples are scaled to 8 bits with rounding, alpha is
    dropped, palette and other colour spaces are converted to RGB, the EXIF
    orientation is applied and only the first frame of an animation is used.

    Args:
        path: Path of the image file (`str` or path-like).
        max_pixels: Largest accepted width * height. Checked from the header,
            before any pixel data is decoded.

    Returns:
        A C-contiguous `np.ndarray` of dtype uint8 and shape [H, W, 3].

    Raises:
        ImageError: If the file is missing, is not a readable image, is
            truncated or corrupt, has zero size, or has more than `max_pixels`
            pixels.
    """
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    max_pixels = int(max_pixels)
    if max_pixels < 1:
        raise ImageError(f"tfnq: max_pixels must be positive, got {max_pixels}")
    if not os.path.exists(path):
        raise ImageError(f"tfnq: {path}: no such file")
    if os.path.isdir(path):
        raise ImageError(f"tfnq: {path}: is a directory, not an image file")
    if not os.path.isfile(path):
        # FIFOs, sockets and devices could block or never end.
        raise ImageError(f"tfnq: {path}: not a regular file")
    try:
        image = _open_and_load(path, max_pixels)
    except ImageError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageError(f"tfnq: {path}: not an image file (or an unsupported format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow refuses images above 2 * `MAX_IMAGE_PIXELS` already in `open`.
        raise ImageError(
            f"tfnq: {path}: image too large (more than {max_pixels} pixels)") from None
    except MemoryError:
        raise ImageError(f"tfnq: {path}: out of memory while decoding the image") from None
    except OSError as e:
        if e.filename is not None or isinstance(e, (PermissionError, FileNotFoundError)):
            reason = e.strerror.lower() if e.strerror else _one_line(e)
            raise ImageError(f"tfnq: cannot read {path}: {reason}") from None
        raise ImageError(
            f"tfnq: {path}: corrupt or truncated image ({_one_line(e)})") from None
    except _PIL_READ_ERRORS as e:
        raise ImageError(
            f"tfnq: {path}: corrupt or truncated image ({_one_line(e)})") from None
    with image:
        height, width = image.height, image.width
        if width <= 0 or height <= 0:
            raise ImageError(f"tfnq: {path}: image has zero size ({width}x{height})")
        try:
            return _to_rgb_array(image)
        except ImageError as e:
            raise ImageError(f"tfnq: {path}: {str(e).removeprefix('tfnq: ')}") from None
        except (ValueError, OSError, MemoryError) as e:
            raise ImageError(f"tfnq: {path}: cannot convert image ({_one_line(e)})") from None


def sample_image_path():
    """Returns the path of the packaged sample image `tfnq/data/astronaut.png`.

    Returns:
        Absolute path (str) of a 512x512 RGB PNG (public-domain NASA photograph
        of Eileen Collins, as bundled with scikit-image).
    """
    return _SAMPLE_IMAGE


def sample_image(size=None):
    """Reads the packaged sample image.

    Args:
        size: Optional `(width, height)` to resize it to (bicubic), e.g. the
            768x512 Kodak size the benchmarks use.

    Returns:
        A uint8 array of shape [512, 512, 3] (or `[height, width, 3]`).

    Raises:
        ImageError: If the sample file is missing from the installation.
    """
    image = read_image(sample_image_path())
    if size is None:
        return image
    return np.asarray(Image.fromarray(image).resize(tuple(size), Image.BICUBIC))


# --------------------------------------------------------------------------- writing


def _validate_image_array(image):
    """Checks that `image` is a non-empty uint8 array of shape [H, W, 3] or [H, W]."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ImageError(f"tfnq: image must have dtype uint8, got {array.dtype}")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 3)):
        raise ImageError(
            f"tfnq: image must have shape [H, W, 3] or [H, W], got {list(array.shape)}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"tfnq: image has zero size ({array.shape[1]}x{array.shape[0]})")
    return np.ascontiguousarray(array)


def write_png(path, image, force=False):
    """Writes a uint8 image array as a PNG file, atomically.

    Args:
        path: Destination path (str or path-like).
        image: A uint8 array of shape [H, W, 3] (RGB) or [H, W] (greyscale).
        force: Whether an existing file at `path` may be overwritten.

    Raises:
        ImageError: If the array is not uint8 [H, W, 3] / [H, W], if `path`
            exists and `force` is false, or if the file cannot be written
            (`tfnq.atomic_write.WriteError`, a subclass). No partial output or
            temporary file is left behind on failure.
    """
    array = _validate_image_array(image)
    buffer = io.BytesIO()
    try:
        Image.fromarray(array).save(buffer, format="PNG")
    except (ValueError, OSError, MemoryError) as e:
        raise ImageError(f"tfnq: cannot encode PNG for {os.fspath(path)}: {_one_line(e)}") from None
    atomic_write.write_bytes_atomic(path, buffer.getvalue(), force)
