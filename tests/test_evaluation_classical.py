"""Tests for tfnq.evaluation.classical."""

import sys

import numpy as np
import pytest
from conftest import random_image, sample_crop

from tfnq.evaluation import classical, metrics

NAMES = ["jpeg", "webp", "jpeg2000", "avif", "jpegxl", "heif"]


def _photo():
    """A small crop of the sample photograph, with odd sides (chroma subsampling edges)."""
    return np.ascontiguousarray(sample_crop(64)[:37, :50])


def test_registry_has_every_codec():
    assert list(classical.CODECS) == NAMES
    assert [c.name for c in classical.resolve_codecs(["all"])] == NAMES
    assert classical.available_codecs() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_round_trip(name):
    codec = classical.get_codec(name)
    image = _photo()
    quality = codec.default_qualities[len(codec.default_qualities) // 2]
    data = codec.encode(image, quality)
    assert isinstance(data, bytes) and 0 < len(data) < image.size
    decoded = codec.decode(data)
    assert decoded.dtype == np.uint8 and decoded.shape == image.shape
    assert metrics.psnr(image, decoded) > 25.0
    # Deterministic: the same input gives the same file.
    assert codec.encode(image, quality) == data


@pytest.mark.parametrize("name", NAMES)
def test_rate_and_quality_grow_with_the_quality_setting(name):
    codec = classical.get_codec(name)
    image = _photo()
    qualities = codec.default_qualities
    assert list(qualities) == sorted(qualities)
    low, mid, high = qualities[0], qualities[len(qualities) // 2], qualities[-1]
    sizes = [len(codec.encode(image, q)) for q in (low, mid, high)]
    assert sizes[0] < sizes[1] < sizes[2]
    psnrs = [metrics.psnr(image, codec.decode(codec.encode(image, q))) for q in (low, high)]
    assert psnrs[0] < psnrs[1]


@pytest.mark.parametrize("name", NAMES)
def test_tiny_and_odd_images(name):
    codec = classical.get_codec(name)
    for height, width in [(1, 1), (3, 5), (17, 9)]:
        image = random_image(height, width, seed=height)
        decoded = codec.decode(codec.encode(image, codec.default_qualities[-1]))
        assert decoded.shape == image.shape and decoded.dtype == np.uint8


@pytest.mark.parametrize("name", NAMES)
def test_settings(name):
    codec = classical.get_codec(name)
    settings = codec.settings(codec.default_qualities[0])
    assert settings["codec"] == name
    assert settings["quality"] == codec.default_qualities[0]
    assert settings["quality_meaning"] == codec.quality_meaning
    assert settings["library"]


@pytest.mark.parametrize("alias, name", [
    ("JPEG", "jpeg"), ("jpg", "jpeg"), ("WebP", "webp"), ("JPEG 2000", "jpeg2000"),
    ("j2k", "jpeg2000"), ("jxl", "jpegxl"), ("JPEG XL", "jpegxl"), ("heic", "heif"),
    ("HEVC", "heif"), (" avif ", "avif")])
def test_aliases(alias, name):
    assert classical.get_codec(alias) is classical.CODECS[name]


def test_unknown_codec():
    with pytest.raises(ValueError, match=r"unknown codec 'bpg' \(known: jpeg, webp, .*all"):
        classical.get_codec("bpg")
    with pytest.raises(ValueError, match="unknown codec 'bpg'"):
        classical.resolve_codecs(["jpeg", "bpg"])


def test_resolve_keeps_order_and_drops_duplicates():
    codecs = classical.resolve_codecs(["heif", "jpg", "jpeg", "all"])
    assert [c.name for c in codecs] == ["heif", "jpeg", "webp", "jpeg2000", "avif", "jpegxl"]


def test_bad_quality():
    jpeg = classical.get_codec("jpeg")
    image = random_image(8, 8)
    with pytest.raises(ValueError, match=r"must be in \[1, 100\], got 0"):
        jpeg.encode(image, 0)
    with pytest.raises(ValueError, match="must be an integer, got 50.5"):
        jpeg.encode(image, 50.5)
    with pytest.raises(ValueError, match="must be a number"):
        jpeg.encode(image, "high")
    with pytest.raises(ValueError, match="must be in"):
        classical.get_codec("avif").encode(image, float("nan"))
    # JPEG 2000 takes a PSNR target, which need not be an integer.
    j2k = classical.get_codec("jpeg2000")
    assert j2k.check_quality(30.5) == 30.5
    assert j2k.check_quality(30.0) == 30 and isinstance(j2k.check_quality(30.0), int)


def test_bad_image_and_data():
    webp = classical.get_codec("webp")
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        webp.encode(np.zeros((8, 8, 3), np.float32), 50)
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        webp.encode(np.zeros((8, 8), np.uint8), 50)
    with pytest.raises(ValueError, match="empty"):
        webp.encode(np.zeros((0, 8, 3), np.uint8), 50)
    for name in NAMES:
        with pytest.raises(ValueError, match="cannot decode"):
            classical.get_codec(name).decode(b"not an image file at all")
    with pytest.raises(TypeError):
        webp.decode("text")


@pytest.mark.parametrize("name, module, package", [
    ("avif", "imagecodecs", "imagecodecs"), ("jpegxl", "imagecodecs", "imagecodecs"),
    ("jpeg2000", "imagecodecs", "imagecodecs"), ("heif", "pillow_heif", "pillow-heif")])
def test_missing_package_is_named(monkeypatch, name, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails.
    codec = type(classical.CODECS[name])()  # A fresh instance: no cached check.
    assert not codec.available()
    with pytest.raises(classical.CodecUnavailableError,
                       match=f"needs the Python package '{package}'.*pip install '{package}"):
        codec.encode(random_image(8, 8), codec.default_qualities[0])
    with pytest.raises(classical.CodecUnavailableError, match=package):
        codec.decode(b"data")


def test_resolve_names_every_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "pillow_heif", None)
    monkeypatch.setitem(classical.CODECS, "heif", classical.HEIF())
    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    monkeypatch.setitem(classical.CODECS, "avif", classical.AVIF())
    with pytest.raises(classical.CodecUnavailableError) as excinfo:
        classical.resolve_codecs(["jpeg", "avif", "heif"])
    message = str(excinfo.value)
    assert "AVIF codec needs the Python package 'imagecodecs'" in message
    assert "HEIF codec needs the Python package 'pillow-heif'" in message
    assert "JPEG" not in message.replace("JPEG XL", "")
    assert [c.name for c in classical.resolve_codecs(["jpeg", "avif"], check=False)] == [
        "jpeg", "avif"]


def test_broken_encoder_is_reported(monkeypatch):
    codec = classical.AVIF()

    def fail(image, quality):
        raise RuntimeError("avifEncoderAddImage returned 'No codec available'")

    monkeypatch.setattr(codec, "_encode", fail)
    with pytest.raises(classical.CodecUnavailableError,
                       match="imagecodecs cannot encode and decode AVIF.*No codec available"):
        codec.check_available()
