"""Tests for tfnq.data."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfnq import data

PATCH = 32


def _rgb(height, width, seed):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture(name="image_dir")
def fixture_image_dir(tmp_path):
    """A small image tree with a greyscale, a too-small and a corrupt image."""
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    Image.fromarray(_rgb(50, 60, 0)).save(tmp_path / "a.png")
    Image.fromarray(_rgb(40, 70, 1)).save(tmp_path / "b.jpg", quality=95)
    Image.fromarray(_rgb(45, 55, 2)).save(tmp_path / "sub" / "c.JPEG", quality=95)
    grey = np.random.default_rng(3).integers(0, 256, (48, 40), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "sub" / "grey.png")
    Image.fromarray(_rgb(10, 12, 4)).save(tmp_path / "small.png")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    (tmp_path / "notes.txt").write_text("not an image")
    Image.fromarray(_rgb(40, 40, 5)).save(tmp_path / ".hidden" / "h.png")
    Image.fromarray(_rgb(40, 40, 6)).save(tmp_path / ".dotfile.png")
    return tmp_path


def _names(files):
    return sorted(os.path.relpath(path) for path in files)


def _take(dataset, count):
    return [batch.numpy() for batch in dataset.take(count)]


def _is_crop_of(patch, image):
    """Whether `patch` ([P, P, C]) appears somewhere in `image` ([H, W, C])."""
    size = patch.shape[0]
    for top in range(image.shape[0] - size + 1):
        for left in range(image.shape[1] - size + 1):
            if np.array_equal(image[top:top + size, left:left + size], patch):
                return True
    return False


# ----------------------------------------------------------------------------- list_files


def test_list_files_directory_recursive(image_dir, monkeypatch):
    monkeypatch.chdir(image_dir)
    files = data.list_files(".")
    assert files == sorted(files)
    assert _names(files) == sorted(
        ["a.png", "b.jpg", "corrupt.jpg", "small.png", "sub/c.JPEG", "sub/grey.png"])


def test_list_files_glob(image_dir):
    files = data.list_files(str(image_dir / "*.png"))
    assert [os.path.basename(path) for path in files] == ["a.png", "small.png"]
    files = data.list_files(str(image_dir / "*" / "*.png"))
    assert [os.path.basename(path) for path in files] == ["grey.png"]
    files = data.list_files(str(image_dir / "**" / "*.png"))
    assert [os.path.basename(path) for path in files] == ["a.png", "small.png", "grey.png"]


def test_list_files_glob_matching_directories(image_dir):
    files = data.list_files(str(image_dir / "su*"))
    assert [os.path.basename(path) for path in files] == ["c.JPEG", "grey.png"]


def test_list_files_comma_list(image_dir):
    spec = f"{image_dir / 'sub'}, {image_dir / '*.jpg'},{image_dir / 'a.png'},"
    files = data.list_files(spec)
    assert [os.path.basename(path) for path in files] == [
        "a.png", "b.jpg", "corrupt.jpg", "c.JPEG", "grey.png"]


def test_list_files_deduplicates(image_dir):
    spec = f"{image_dir},{image_dir / '*.png'},{image_dir}/./a.png"
    files = data.list_files(spec)
    assert len(files) == len(set(files)) == 6


def test_list_files_sequence_and_pathlike(image_dir):
    files = data.list_files([image_dir / "sub", str(image_dir / "a.png")])
    assert [os.path.basename(path) for path in files] == ["a.png", "c.JPEG", "grey.png"]


@pytest.mark.parametrize(
    "spec", ["*.bmp", "missing_dir", "emptydir", "sub/*.png,*.gif", "", " , "])
def test_list_files_no_match(image_dir, monkeypatch, spec):
    monkeypatch.chdir(image_dir)
    (image_dir / "emptydir").mkdir()
    with pytest.raises(ValueError, match="^tfnq: "):
        data.list_files(spec)


# ----------------------------------------------------------------------------- train


def test_train_batches(image_dir):
    files = data.list_files(str(image_dir))
    dataset = data.make_train_dataset(files, patch_size=PATCH, batch_size=4, shuffle_buffer=8)
    assert dataset.element_spec == tf.TensorSpec([4, PATCH, PATCH, 3], tf.float32)
    batches = _take(dataset, 6)  # More patches than there are images: repeats.
    assert len(batches) == 6
    for batch in batches:
        assert batch.shape == (4, PATCH, PATCH, 3)
        assert batch.dtype == np.float32
        assert batch.min() >= 0.0 and batch.max() <= 255.0
    # Not normalized to [0, 1].
    assert max(batch.max() for batch in batches) > 200.0


def test_train_accepts_pattern_string(image_dir):
    dataset = data.make_train_dataset(
        str(image_dir / "*.png"), patch_size=PATCH, batch_size=2, cache=False)
    assert _take(dataset, 2)[0].shape == (2, PATCH, PATCH, 3)


def test_train_skips_small_and_corrupt(image_dir):
    image = np.asarray(Image.open(image_dir / "a.png"))
    files = [str(image_dir / name) for name in ("small.png", "corrupt.jpg", "a.png")]
    for cache in (True, False):
        dataset = data.make_train_dataset(
            files, patch_size=PATCH, batch_size=3, scale_range=(1.0, 1.0), cache=cache)
        for batch in _take(dataset, 2):
            for patch in batch:
                # At scale 1 every patch is an exact crop of the only usable image.
                assert _is_crop_of(patch.astype(np.uint8), image)
                np.testing.assert_array_equal(patch, np.round(patch))


def test_train_no_usable_image_ends_instead_of_hanging(image_dir):
    files = [str(image_dir / name) for name in ("small.png", "corrupt.jpg")]
    for cache in (True, False):
        dataset = data.make_train_dataset(files, patch_size=PATCH, batch_size=2, cache=cache)
        assert _take(dataset, 1) == []


def test_train_greyscale_becomes_rgb(image_dir):
    dataset = data.make_train_dataset(
        [str(image_dir / "sub" / "grey.png")], patch_size=PATCH, batch_size=2)
    batch = _take(dataset, 1)[0]
    assert batch.shape == (2, PATCH, PATCH, 3)
    np.testing.assert_array_equal(batch[..., 0], batch[..., 1])
    np.testing.assert_array_equal(batch[..., 0], batch[..., 2])


def test_train_downscale_is_antialiased_resize(tmp_path):
    image = _rgb(64, 64, 7)
    Image.fromarray(image).save(tmp_path / "x.png")
    dataset = data.make_train_dataset(
        [str(tmp_path / "x.png")], patch_size=PATCH, batch_size=1, scale_range=(0.5, 0.5))
    patch = _take(dataset, 1)[0][0]
    # Scale 0.5 maps the whole 64x64 image onto the 32x32 patch.
    expected = tf.image.resize(
        tf.cast(image, tf.float32), [PATCH, PATCH], method="bilinear", antialias=True)
    np.testing.assert_allclose(patch, expected.numpy(), atol=1e-3)


def test_train_scale_clamped_to_keep_patch_inside(image_dir):
    # The shorter side is 40: scale 0.1 would leave 4 pixels, so it is clamped to 32 / 40.
    dataset = data.make_train_dataset(
        [str(image_dir / "b.jpg")], patch_size=PATCH, batch_size=2, scale_range=(0.1, 0.1))
    batch = _take(dataset, 1)[0]
    assert batch.shape == (2, PATCH, PATCH, 3)


def test_train_seed_is_reproducible(image_dir):
    files = data.list_files(str(image_dir))
    kwargs = dict(patch_size=PATCH, batch_size=2, scale_range=(0.6, 1.0))
    first = _take(data.make_train_dataset(files, seed=3, **kwargs), 4)
    second = _take(data.make_train_dataset(files, seed=3, **kwargs), 4)
    other = _take(data.make_train_dataset(files, seed=4, **kwargs), 4)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, other, strict=True))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(patch_size=0),
        dict(batch_size=0),
        dict(shuffle_buffer=0),
        dict(scale_range=(0.0, 1.0)),
        dict(scale_range=(0.9, 0.5)),
    ],
)
def test_train_argument_validation(image_dir, kwargs):
    with pytest.raises(ValueError):
        data.make_train_dataset([str(image_dir / "a.png")], **kwargs)


def test_train_empty_file_list():
    with pytest.raises(ValueError):
        data.make_train_dataset([])


# ----------------------------------------------------------------------------- eval


def test_eval_dataset(image_dir):
    files = [str(image_dir / name) for name in ("a.png", "small.png", "sub/grey.png", "b.jpg")]
    items = list(data.make_eval_dataset(files))
    assert [name.numpy().decode() for name, _ in items] == files
    shapes = [tuple(image.shape) for _, image in items]
    assert shapes == [(50, 60, 3), (10, 12, 3), (48, 40, 3), (40, 70, 3)]
    for _, image in items:
        assert image.dtype == tf.uint8
    np.testing.assert_array_equal(items[0][1].numpy(), np.asarray(Image.open(files[0])))
    grey = items[2][1].numpy()
    np.testing.assert_array_equal(grey[..., 0], np.asarray(Image.open(files[2])))
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])


def test_eval_dataset_corrupt_file_raises(image_dir):
    dataset = data.make_eval_dataset([str(image_dir / "corrupt.jpg")])
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(dataset)
