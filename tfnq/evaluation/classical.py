"""Classical image codecs behind one small interface, for rate-distortion baselines.

Every codec is a `ClassicalCodec` with

* ``encode(image, quality) -> bytes``: uint8 [H, W, 3] RGB in, the bytes of a
  complete file out (its length is what bpp is computed from);
* ``decode(data) -> image``: those bytes in, uint8 [H, W, 3] RGB out;
* ``default_qualities``: a sweep that spans roughly 0.1-2 bpp on photographs
  (measured on the 512-1024 px photographs of the validation set; dense
  textures such as McMaster's land higher).

The codecs (`CODECS`, looked up by `get_codec`; names are case-insensitive and a
few aliases are accepted):

* ``jpeg``: Pillow (libjpeg-turbo); quality = JPEG quality 1-100; 4:2:0 chroma,
  optimized Huffman tables, baseline, JFIF file.
* ``webp``: Pillow (libwebp); quality = WebP quality 0-100; lossy, method 6
  (slowest, best), RIFF file.
* ``jpeg2000``: imagecodecs (OpenJPEG); quality = target PSNR in dB of a single
  quality layer (OpenJPEG's "fixed quality" mode, as ``opj_compress -q``); 9/7
  irreversible wavelet, ICT colour transform, raw J2K codestream (no JP2 boxes).
* ``avif``: imagecodecs (libavif with the libaom encoder); quality = AVIF quality
  0-100; 8-bit 4:2:0, speed 6.
* ``jpegxl``: imagecodecs (libjxl); quality = libjxl quality 0-100, mapped to a
  Butteraugli distance (90 = distance 1.0); effort 7 (libjxl's default), bare
  codestream.
* ``heif``: pillow-heif (libheif with x265); quality = HEIF quality 0-100; HEVC
  4:2:0, x265's default preset.

JPEG 2000 is given a PSNR target rather than a compression ratio because a
ratio fixes the rate of every image, whereas a PSNR target, like the quality
settings of the other codecs, lets the rate follow the content; OpenJPEG meets
the target to within about 0.2 dB.

The encoders run single-threaded where the library allows it (imagecodecs'
`numthreads=1`; x265 uses its own default threading), so encode and decode
times are comparable between codecs and with other work on the machine.

Each codec checks that its library is installed and that its encoder actually
works (a tiny encode and decode, once per process) before first use;
`check_available` raises `CodecUnavailableError` naming the Python package to
install otherwise.
"""

import io
import math

import numpy as np

__all__ = [
    "AVIF",
    "CODECS",
    "ClassicalCodec",
    "CodecUnavailableError",
    "HEIF",
    "JPEG",
    "JPEG2000",
    "JPEGXL",
    "WebP",
    "available_codecs",
    "get_codec",
    "resolve_codecs",
]

# Module -> (pip package, requirement as in setup.py).
_PACKAGES = {
    "PIL": ("pillow", "pillow"),
    "imagecodecs": ("imagecodecs", "imagecodecs>=2024.9.22,<2026.3"),
    "pillow_heif": ("pillow-heif", "pillow-heif>=0.18"),
}


class CodecUnavailableError(RuntimeError):
    """A codec whose library or encoder is missing from the installation."""


def _import(module, codec_label):
    """Imports a codec library, or raises `CodecUnavailableError` naming its pip package."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as e:
        package, requirement = _PACKAGES[module]
        raise CodecUnavailableError(
            f"tfnq: the {codec_label} codec needs the Python package {package!r}, which "
            f"cannot be imported ({e}); install it with: pip install '{requirement}'") from None


class ClassicalCodec:
    """A classical image codec at a given quality setting.

    Subclasses set the class attributes and implement `_encode`, `_decode`,
    `_library` and `_check_library`.

    Attributes:
        name: Registry name, lower case (e.g. "jpeg2000").
        label: Display name and RD-curve label (e.g. "JPEG 2000").
        package: The pip package that provides the encoder.
        quality_meaning: What the quality number means for this codec.
        quality_range: Inclusive (low, high) range of valid qualities.
        integer_quality: Whether qualities must be integers.
        default_qualities: The default sweep, low to high quality.
        aliases: Other accepted names (lower case).
    """

    name = ""
    label = ""
    package = ""
    quality_meaning = "quality"
    quality_range = (0, 100)
    integer_quality = True
    default_qualities = ()
    aliases = ()

    def __init__(self):
        self._checked = None  # None: not yet; True: works; or the error to raise again.

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"

    # ------------------------------------------------------------ subclass hooks

    def _check_library(self):
        """Imports the library; raises `CodecUnavailableError` if it is missing."""
        raise NotImplementedError

    def _library(self):
        """Library versions, as one string for the result files."""
        raise NotImplementedError

    def _encoder_settings(self):
        """The fixed encoder parameters, as a JSON-serializable dict."""
        return {}

    def _encode(self, image, quality):
        raise NotImplementedError

    def _decode(self, data):
        raise NotImplementedError

    # ------------------------------------------------------------ public interface

    def check_available(self):
        """Checks once per process that the library is installed and can encode and decode.

        Raises:
            CodecUnavailableError: Naming the missing package, or saying that the
                installed build has no working encoder for this format.
        """
        if self._checked is True:
            return
        if isinstance(self._checked, CodecUnavailableError):
            raise self._checked
        try:
            self._check_library()
            probe = np.zeros((16, 16, 3), np.uint8)
            probe[4:12, 4:12] = 200
            middle = self.default_qualities[len(self.default_qualities) // 2]
            decoded = self._as_rgb(self._decode(self._encode(probe, middle)))
            if decoded.shape != probe.shape:
                raise ValueError(f"decoded a {probe.shape} image as {decoded.shape}")
        except CodecUnavailableError as e:
            self._checked = e
            raise
        except Exception as e:  # noqa: BLE001  (any failure means the build cannot do it)
            self._checked = CodecUnavailableError(
                f"tfnq: the installed {self.package} cannot encode and decode {self.label} "
                f"({type(e).__name__}: {' '.join(str(e).split())}); reinstall it with: "
                f"pip install --force-reinstall '{self._requirement()}'")
            raise self._checked from None
        self._checked = True

    def available(self):
        """Whether `check_available` passes."""
        try:
            self.check_available()
        except CodecUnavailableError:
            return False
        return True

    def _requirement(self):
        for package, requirement in _PACKAGES.values():
            if package == self.package:
                return requirement
        return self.package

    def check_quality(self, quality):
        """Validates a quality setting and returns it as int or float.

        Raises:
            ValueError: If `quality` is not a number in `quality_range` (or not an
                integer where one is needed).
        """
        try:
            value = float(quality)
        except (TypeError, ValueError):
            raise ValueError(
                f"tfnq: {self.label} quality must be a number, got {quality!r}") from None
        low, high = self.quality_range
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(
                f"tfnq: {self.label} quality must be in [{low}, {high}], got {quality!r} "
                f"(it means: {self.quality_meaning})")
        if self.integer_quality:
            if value != int(value):
                raise ValueError(
                    f"tfnq: {self.label} quality must be an integer, got {quality!r}")
            return int(value)
        return int(value) if value == int(value) else value

    def settings(self, quality):
        """Everything that determines the output for `quality`, for the result files.

        Returns:
            A dict with the codec name, the quality, what it means, the fixed
            encoder parameters and the library versions.
        """
        self.check_available()
        return dict(codec=self.name, quality=self.check_quality(quality),
                    quality_meaning=self.quality_meaning, **self._encoder_settings(),
                    library=self._library())

    def encode(self, image, quality):
        """Compresses an image into the bytes of a file.

        Args:
            image: uint8 array [H, W, 3] (RGB).
            quality: A quality setting in `quality_range`.

        Returns:
            bytes.

        Raises:
            CodecUnavailableError: If the library is missing.
            ValueError: If the image or the quality is invalid.
        """
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"tfnq: expected a uint8 HxWx3 image, got {image.dtype} {list(image.shape)}")
        if image.shape[0] < 1 or image.shape[1] < 1:
            raise ValueError("tfnq: the image is empty")
        quality = self.check_quality(quality)
        self.check_available()
        return bytes(self._encode(np.ascontiguousarray(image), quality))

    def decode(self, data):
        """Decompresses the bytes of a file made by `encode`.

        Args:
            data: bytes.

        Returns:
            uint8 array [H, W, 3] (RGB).

        Raises:
            CodecUnavailableError: If the library is missing.
            ValueError: If the data cannot be decoded to an RGB image.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"tfnq: expected bytes, got {type(data).__name__}")
        self.check_available()
        try:
            return self._as_rgb(self._decode(bytes(data)))
        except (ValueError, OSError, RuntimeError) as e:
            raise ValueError(
                f"tfnq: cannot decode {self.label} data "
                f"({type(e).__name__}: {' '.join(str(e).split())})") from None

    @staticmethod
    def _as_rgb(decoded):
        decoded = np.asarray(decoded)
        if decoded.dtype != np.uint8 or decoded.ndim != 3 or decoded.shape[2] != 3:
            raise ValueError(f"decoded to {decoded.dtype} {list(decoded.shape)}, not uint8 RGB")
        return np.ascontiguousarray(decoded)


# ---------------------------------------------------------------------- Pillow


class _PillowCodec(ClassicalCodec):
    """A format that Pillow writes and reads."""

    package = "pillow"
    _format = ""
    _feature = ""

    def _check_library(self):
        _import("PIL", self.label)
        from PIL import features
        if not features.check(self._feature):
            raise CodecUnavailableError(
                f"tfnq: the installed Pillow was built without {self.label} support; "
                "install the official wheel with: pip install --force-reinstall pillow")

    def _library(self):
        import PIL
        from PIL import features
        backend = {"jpg": "libjpeg-turbo " + str(features.version("libjpeg_turbo")),
                   "webp": "libwebp " + str(features.version("webp"))}[self._feature]
        return f"Pillow {PIL.__version__}, {backend}"

    def _save_options(self, quality):
        raise NotImplementedError

    def _encode(self, image, quality):
        from PIL import Image
        buffer = io.BytesIO()
        Image.fromarray(image, "RGB").save(buffer, format=self._format,
                                           **self._save_options(quality))
        return buffer.getvalue()

    def _decode(self, data):
        from PIL import Image
        with Image.open(io.BytesIO(data), formats=[self._format]) as image:
            return np.asarray(image.convert("RGB"))


class JPEG(_PillowCodec):
    """Baseline JPEG with Pillow (libjpeg-turbo): 4:2:0, optimized Huffman tables."""

    name = "jpeg"
    label = "JPEG"
    aliases = ("jpg",)
    quality_meaning = "JPEG quality (libjpeg scaling of the standard tables)"
    quality_range = (1, 100)
    default_qualities = (5, 10, 20, 35, 50, 65, 80, 90)
    _format = "JPEG"
    _feature = "jpg"

    def _encoder_settings(self):
        return dict(subsampling="4:2:0", optimize=True, progressive=False)

    def _save_options(self, quality):
        return dict(quality=quality, subsampling=2, optimize=True)


class WebP(_PillowCodec):
    """Lossy WebP with Pillow (libwebp), method 6."""

    name = "webp"
    label = "WebP"
    quality_meaning = "WebP quality"
    quality_range = (0, 100)
    default_qualities = (0, 5, 15, 30, 50, 70, 85, 95)
    _format = "WEBP"
    _feature = "webp"

    def _encoder_settings(self):
        return dict(lossless=False, method=6, subsampling="4:2:0")

    def _save_options(self, quality):
        return dict(quality=quality, method=6, lossless=False)


# ---------------------------------------------------------------------- imagecodecs


class _ImagecodecsCodec(ClassicalCodec):
    """A format that imagecodecs writes and reads."""

    package = "imagecodecs"
    _attribute = ""  # imagecodecs.<ATTRIBUTE>.available

    def _check_library(self):
        imagecodecs = _import("imagecodecs", self.label)
        codec = getattr(imagecodecs, self._attribute, None)
        if codec is None or not getattr(codec, "available", False):
            raise CodecUnavailableError(
                f"tfnq: the installed imagecodecs {imagecodecs.__version__} was built without "
                f"{self.label}; install the official wheel with: "
                f"pip install --force-reinstall '{self._requirement()}'")

    def _version(self):
        raise NotImplementedError

    def _library(self):
        import imagecodecs
        return f"imagecodecs {imagecodecs.__version__}, {self._version()}"


class JPEG2000(_ImagecodecsCodec):
    """JPEG 2000 with imagecodecs (OpenJPEG) at a target PSNR."""

    name = "jpeg2000"
    label = "JPEG 2000"
    aliases = ("j2k", "jp2", "jpeg-2000", "jpeg_2000", "openjpeg")
    quality_meaning = "target PSNR in dB (OpenJPEG fixed-quality layer)"
    quality_range = (1, 120)
    integer_quality = False
    default_qualities = (24, 26, 28, 30, 32, 34, 36, 38)
    _attribute = "JPEG2K"

    def _version(self):
        import imagecodecs
        return imagecodecs.jpeg2k_version()

    def _encoder_settings(self):
        return dict(codestream="J2K", wavelet="9/7 irreversible", mct=True, layers=1,
                    numthreads=1)

    def _encode(self, image, quality):
        import imagecodecs
        return imagecodecs.jpeg2k_encode(
            image, level=quality, codecformat=imagecodecs.JPEG2K.CODEC.J2K, reversible=False,
            mct=True, numthreads=1)

    def _decode(self, data):
        import imagecodecs
        return imagecodecs.jpeg2k_decode(data, numthreads=1)


class AVIF(_ImagecodecsCodec):
    """AVIF with imagecodecs (libavif, libaom encoder), 8-bit 4:2:0."""

    name = "avif"
    label = "AVIF"
    aliases = ("av1",)
    quality_meaning = "AVIF quality (libavif, 100 = lossless)"
    quality_range = (0, 100)
    default_qualities = (10, 20, 30, 40, 50, 60, 70, 80)
    _attribute = "AVIF"
    _speed = 6

    def _version(self):
        import imagecodecs
        return f"{imagecodecs.avif_version()} (aom)"

    def _encoder_settings(self):
        return dict(encoder="aom", speed=self._speed, pixelformat="4:2:0", bitspersample=8,
                    numthreads=1)

    def _encode(self, image, quality):
        import imagecodecs
        return imagecodecs.avif_encode(
            image, level=quality, speed=self._speed, bitspersample=8,
            pixelformat=imagecodecs.AVIF.PIXEL_FORMAT.YUV420,
            codec=imagecodecs.AVIF.CODEC_CHOICE.AOM, numthreads=1)

    def _decode(self, data):
        import imagecodecs
        return imagecodecs.avif_decode(data, numthreads=1)


class JPEGXL(_ImagecodecsCodec):
    """JPEG XL with imagecodecs (libjxl), lossy VarDCT, effort 7."""

    name = "jpegxl"
    label = "JPEG XL"
    aliases = ("jxl", "jpeg-xl", "jpeg_xl")
    quality_meaning = "libjxl quality (mapped to a Butteraugli distance; 90 = distance 1.0)"
    quality_range = (0, 100)
    default_qualities = (5, 10, 20, 30, 50, 70, 80, 90)
    _attribute = "JPEGXL"
    _effort = 7

    def _version(self):
        import imagecodecs
        return imagecodecs.jpegxl_version()

    def _encoder_settings(self):
        return dict(effort=self._effort, container=False, numthreads=1)

    def _encode(self, image, quality):
        import imagecodecs
        return imagecodecs.jpegxl_encode(
            image, level=quality, effort=self._effort, usecontainer=False, numthreads=1)

    def _decode(self, data):
        import imagecodecs
        return imagecodecs.jpegxl_decode(data, numthreads=1)


# ---------------------------------------------------------------------- pillow-heif


class HEIF(ClassicalCodec):
    """HEIF (HEVC still image) with pillow-heif (libheif, x265), 4:2:0."""

    name = "heif"
    label = "HEIF"
    package = "pillow-heif"
    aliases = ("heic", "hevc")
    quality_meaning = "HEIF quality (libheif, mapped to an x265 quantizer)"
    quality_range = (0, 100)
    default_qualities = (5, 15, 25, 35, 45, 55, 65)

    def _check_library(self):
        pillow_heif = _import("pillow_heif", self.label)
        encoders = pillow_heif.libheif_info().get("encoders", {})
        if not any("hevc" in str(v).lower() or k == "x265" for k, v in encoders.items()):
            raise CodecUnavailableError(
                f"tfnq: the installed pillow-heif {pillow_heif.__version__} has no HEVC encoder "
                f"(encoders: {encoders}); install the official wheel with: "
                f"pip install --force-reinstall '{self._requirement()}'")

    def _library(self):
        import pillow_heif
        encoder = pillow_heif.libheif_info().get("encoders", {}).get("x265", "x265")
        return f"pillow-heif {pillow_heif.__version__}, libheif {pillow_heif.libheif_version()}, " \
               f"{encoder}"

    def _encoder_settings(self):
        return dict(encoder="x265", chroma="4:2:0", bitspersample=8)

    def _encode(self, image, quality):
        import pillow_heif
        height, width = image.shape[:2]
        heif = pillow_heif.from_bytes("RGB", (width, height), image.tobytes())
        buffer = io.BytesIO()
        heif.save(buffer, quality=quality, chroma=420)
        return buffer.getvalue()

    def _decode(self, data):
        import pillow_heif
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        if heif.mode != "RGB":
            raise ValueError(f"decoded a {heif.mode} image, not RGB")
        return np.asarray(heif)


# ---------------------------------------------------------------------- registry

CODECS = {codec.name: codec for codec in (JPEG(), WebP(), JPEG2000(), AVIF(), JPEGXL(), HEIF())}


def get_codec(name):
    """Looks up a codec by name, label or alias (case-insensitive).

    Args:
        name: For example "jpeg", "JPEG 2000", "jxl" or "heic".

    Returns:
        The `ClassicalCodec` (one shared instance per codec).

    Raises:
        ValueError: If no codec has that name.
    """
    key = str(name).strip().lower()
    for codec in CODECS.values():
        if key in (codec.name, codec.label.lower(), *codec.aliases):
            return codec
    raise ValueError(f"tfnq: unknown codec {name!r} (known: {', '.join(CODECS)}, or 'all')")


def resolve_codecs(names, check=True):
    """Turns a list of codec names (``"all"`` for every codec) into codecs.

    Args:
        names: Iterable of names accepted by `get_codec`, or "all".
        check: Whether to check that every codec is available.

    Returns:
        A list of distinct `ClassicalCodec`s, in the order given (registry order
        for "all").

    Raises:
        ValueError: For an unknown name.
        CodecUnavailableError: If `check` and a codec's library is missing; the
            message names every missing package.
    """
    codecs = []
    for name in names:
        chosen = list(CODECS.values()) if str(name).strip().lower() == "all" else [get_codec(name)]
        codecs.extend(codec for codec in chosen if codec not in codecs)
    if check:
        errors = []
        for codec in codecs:
            try:
                codec.check_available()
            except CodecUnavailableError as e:
                errors.append(str(e))
        if errors:
            raise CodecUnavailableError("\n".join(errors))
    return codecs


def available_codecs():
    """Names of the codecs whose libraries are installed and working."""
    return [name for name, codec in CODECS.items() if codec.available()]
