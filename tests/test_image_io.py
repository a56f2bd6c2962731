"""Tests for tfnq.image_io."""

import os

import numpy as np
import pytest
from PIL import Image

from tfnq import image_io
from tfnq.atomic_write import WriteError
from tfnq.image_io import ImageError


def _random_rgb(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _assert_rgb(array, height, width):
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.uint8
    assert array.shape == (height, width, 3)
    assert array.flags["C_CONTIGUOUS"]


def _assert_tfnq_error(excinfo):
    message = str(excinfo.value)
    assert message.startswith("tfnq: ")
    assert "\n" not in message


# ----------------------------------------------------------------------------- reading


@pytest.mark.parametrize("height, width", [(1, 1), (7, 13), (13, 7), (32, 48)])
def test_read_rgb_roundtrip(tmp_path, height, width):
    rgb = _random_rgb(height, width)
    path = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(path)
    out = image_io.read_image(path)
    _assert_rgb(out, height, width)
    np.testing.assert_array_equal(out, rgb)


def test_read_accepts_str_path(tmp_path):
    rgb = _random_rgb(5, 6)
    path = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(path)
    np.testing.assert_array_equal(image_io.read_image(str(path)), rgb)


def test_read_greyscale_replicated(tmp_path):
    grey = np.random.default_rng(1).integers(0, 256, (7, 13), dtype=np.uint8)
    path = tmp_path / "grey.png"
    Image.fromarray(grey).save(path)
    out = image_io.read_image(path)
    _assert_rgb(out, 7, 13)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], grey)


def test_read_grey_alpha_drops_alpha(tmp_path):
    grey = np.random.default_rng(2).integers(0, 256, (6, 5), dtype=np.uint8)
    alpha = np.zeros_like(grey)  # Fully transparent: values must still come through.
    path = tmp_path / "la.png"
    Image.fromarray(np.stack([grey, alpha], axis=-1), mode="LA").save(path)
    assert Image.open(path).mode == "LA"
    out = image_io.read_image(path)
    _assert_rgb(out, 6, 5)
    np.testing.assert_array_equal(out, np.repeat(grey[..., None], 3, axis=-1))


def test_read_rgba_drops_alpha(tmp_path):
    rgba = np.random.default_rng(3).integers(0, 256, (9, 4, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(path)
    assert Image.open(path).mode == "RGBA"
    out = image_io.read_image(path)
    _assert_rgb(out, 9, 4)
    np.testing.assert_array_equal(out, rgba[..., :3])


def test_read_palette(tmp_path):
    rgb = _random_rgb(10, 11, seed=4)
    palette_image = Image.fromarray(rgb).quantize(colors=16)
    path = tmp_path / "p.png"
    palette_image.save(path)
    assert Image.open(path).mode == "P"
    out = image_io.read_image(path)
    _assert_rgb(out, 10, 11)
    np.testing.assert_array_equal(out, np.asarray(palette_image.convert("RGB")))


def test_read_palette_with_transparency(tmp_path):
    image = Image.new("P", (4, 3), 1)
    image.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    path = tmp_path / "pt.png"
    image.save(path, transparency=1)
    out = image_io.read_image(path)
    _assert_rgb(out, 3, 4)
    assert (out == [10, 20, 30]).all()


def test_read_bilevel(tmp_path):
    bits = np.zeros((5, 8), dtype=bool)
    bits[:, ::2] = True
    path = tmp_path / "bits.png"
    Image.fromarray(bits).save(path)
    assert Image.open(path).mode == "1"
    out = image_io.read_image(path)
    _assert_rgb(out, 5, 8)
    np.testing.assert_array_equal(out[..., 0], np.where(bits, 255, 0))


def test_read_16bit_greyscale_scaled_with_rounding(tmp_path):
    values = np.array([[0, 1, 128, 129], [257, 32767, 65278, 65535]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    path = tmp_path / "grey16.png"
    image.save(path)
    out = image_io.read_image(path)
    _assert_rgb(out, 2, 4)
    expected = np.rint(values.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(out[..., 0], expected)
    np.testing.assert_array_equal(out[..., 1], expected)
    np.testing.assert_array_equal(out[..., 2], expected)
    assert out[1, 3, 0] == 255 and out[0, 0, 0] == 0


def test_read_cmyk_jpeg(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (6, 4), (0, 0, 0, 0)).save(path)
    out = image_io.read_image(path)
    _assert_rgb(out, 4, 6)
    assert out.min() >= 250  # No ink is white.


def test_read_float_and_int32_modes(tmp_path):
    floats = np.array([[-5.0, 0.4, 127.6, 300.0]], dtype=np.float32)
    path = tmp_path / "f.tiff"
    Image.fromarray(floats).save(path)
    out = image_io.read_image(path)
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 128, 255])

    ints = np.array([[0, 65535, 70000]], dtype=np.int32)
    path = tmp_path / "i.tiff"
    Image.fromarray(ints).save(path)
    out = image_io.read_image(path)
    np.testing.assert_array_equal(out[0, :, 0], [0, 255, 255])


def test_read_applies_exif_orientation(tmp_path):
    image = Image.fromarray(np.zeros((2, 3, 3), dtype=np.uint8))
    exif = image.getexif()
    exif[0x0112] = 6  # Rotate 90 degrees clockwise on display.
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    _assert_rgb(image_io.read_image(path), 3, 2)


def test_read_animation_takes_first_frame(tmp_path):
    frames = [Image.new("RGB", (5, 4), (10 * i, 20, 30)) for i in range(1, 4)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=10)
    assert Image.open(path).n_frames == 3
    out = image_io.read_image(path)
    _assert_rgb(out, 4, 5)
    assert tuple(out[0, 0]) == (10, 20, 30)


def test_read_missing_file(tmp_path):
    with pytest.raises(ImageError) as excinfo:
        image_io.read_image(tmp_path / "nope.png")
    _assert_tfnq_error(excinfo)
    assert "no such file" in str(excinfo.value)


def test_read_directory(tmp_path):
    with pytest.raises(ImageError) as excinfo:
        image_io.read_image(tmp_path)
    _assert_tfnq_error(excinfo)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_read_fifo_does_not_hang(tmp_path):
    path = tmp_path / "fifo.png"
    os.mkfifo(path)
    with pytest.raises(ImageError) as excinfo:
        image_io.read_image(path)
    _assert_tfnq_error(excinfo)


def test_read_text_file_named_png(tmp_path):
    path = tmp_path / "x.png"
    path.write_text("this is not\nan image\n")
    with pytest.raises(ImageError) as excinfo:
        image_io.read_image(path)
    _assert_tfnq_error(excinfo)
    assert "not an image" in str(excinfo.value)


def test_read_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError) as excinfo:
        image_io.read_image(path)
    _assert_tfnq_error(excinfo)


@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_read_truncated_png(tmp_path, fraction):
    full = tmp_path / "full.png"
    Image.fromarray(_random_rgb(64, 64, seed=5)).save(full)
    data = full.read_bytes()
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ImageError) as excinfo:
        image_io.read_image(path)
    _assert_tfnq_error(excinfo)


def test_read_truncated_jpeg(tmp_path):
    full = tmp_path / "full.jpg"
    Image.fromarray(_random_rgb(64, 64, seed=6)).save(full, quality=95)
    data = full.read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as excinfo:
        image_io.read_image(path)
    _assert_tfnq_error(excinfo)


def test_read_zero_sized_png(tmp_path):
    import struct
    import zlib

    def chunk(kind, payload):
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
    path = tmp_path / "zero.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    with pytest.raises(ImageError) as excinfo:
        image_io.read_image(path)
    _assert_tfnq_error(excinfo)


def test_read_max_pixels(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (40, 30)).save(path)
    _assert_rgb(image_io.read_image(path, max_pixels=1200), 30, 40)
    for limit in (1199, 1000, 100):  # Just above, and far above Pillow's 2x bomb limit.
        with pytest.raises(ImageError) as excinfo:
            image_io.read_image(path, max_pixels=limit)
        _assert_tfnq_error(excinfo)
        assert "too large" in str(excinfo.value)


def test_read_max_pixels_restores_pillow_limit(tmp_path):
    path = tmp_path / "small.png"
    Image.new("RGB", (4, 4)).save(path)
    before = Image.MAX_IMAGE_PIXELS
    image_io.read_image(path, max_pixels=20)
    with pytest.raises(ImageError):
        image_io.read_image(path, max_pixels=3)
    assert Image.MAX_IMAGE_PIXELS == before


# ----------------------------------------------------------------------------- sample


def test_sample_image():
    path = image_io.sample_image_path()
    assert os.path.isfile(path)
    assert path.endswith(os.path.join("tfnq", "data", "astronaut.png"))
    _assert_rgb(image_io.sample_image(), 512, 512)


# ----------------------------------------------------------------------------- writing


def _leftovers(directory, keep):
    return sorted(name for name in os.listdir(directory) if name not in keep)


@pytest.mark.parametrize("shape", [(7, 13, 3), (7, 13), (1, 1, 3)])
def test_write_png_roundtrip(tmp_path, shape):
    image = np.random.default_rng(7).integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / "out.png"
    image_io.write_png(path, image)
    assert _leftovers(tmp_path, {"out.png"}) == []
    out = image_io.read_image(path)
    expected = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1)
    np.testing.assert_array_equal(out, expected)


def test_write_png_refuses_overwrite_without_force(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"original")
    with pytest.raises(WriteError) as excinfo:
        image_io.write_png(path, _random_rgb(4, 4))
    _assert_tfnq_error(excinfo)
    assert str(excinfo.value) == f"tfnq: {path} exists (use --force to overwrite)"
    assert path.read_bytes() == b"original"
    assert _leftovers(tmp_path, {"out.png"}) == []


def test_write_png_overwrites_with_force(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"original")
    image = _random_rgb(4, 5, seed=8)
    image_io.write_png(path, image, force=True)
    np.testing.assert_array_equal(image_io.read_image(path), image)
    assert _leftovers(tmp_path, {"out.png"}) == []


def test_write_file_permissions_follow_umask(tmp_path):
    path = tmp_path / "out.png"
    image_io.write_png(path, _random_rgb(2, 2))
    umask = os.umask(0o022)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((4, 4, 3), dtype=np.float32),
        np.zeros((4, 4, 3), dtype=np.uint16),
        np.zeros((4, 4, 4), dtype=np.uint8),
        np.zeros((4, 4, 1), dtype=np.uint8),
        np.zeros((2, 4, 4, 3), dtype=np.uint8),
        np.zeros((4,), dtype=np.uint8),
        np.zeros((0, 4, 3), dtype=np.uint8),
    ],
)
def test_write_png_validates_array(tmp_path, image):
    path = tmp_path / "out.png"
    with pytest.raises(ImageError) as excinfo:
        image_io.write_png(path, image)
    _assert_tfnq_error(excinfo)
    assert _leftovers(tmp_path, set()) == []


def test_write_into_missing_directory(tmp_path):
    path = tmp_path / "missing" / "out.png"
    with pytest.raises(WriteError) as excinfo:
        image_io.write_png(path, _random_rgb(3, 3))
    _assert_tfnq_error(excinfo)
    assert _leftovers(tmp_path, set()) == []
