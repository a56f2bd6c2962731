"""`tf.data` input pipelines built from image files.

`make_train_dataset` yields batches of random square patches for training:
each image is decoded once (and by default cached in memory), then for every
patch a random downscaling factor and a random crop position are drawn.
Files that cannot be decoded and images whose shorter side is smaller than the
patch are skipped, so a few bad files never stop training.

`make_eval_dataset` yields full-size images one at a time, in file order.
"""

import glob
import os

import tensorflow as tf

__all__ = [
    "IMAGE_EXTENSIONS",
    "list_files",
    "make_eval_dataset",
    "make_train_dataset",
]

# Extensions (lower case) collected when a directory is given to `list_files`.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def _walk_images(directory):
    """Recursively lists image files under `directory`, skipping hidden entries."""
    found = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                found.append(os.path.join(root, name))
    return found


def _expand_one(spec):
    """Expands one glob, directory or file name into a list of file paths."""
    spec = os.path.expanduser(spec)
    if os.path.isdir(spec):
        return _walk_images(spec)
    if glob.has_magic(spec):
        found = []
        for match in glob.glob(spec, recursive=True):
            if os.path.isdir(match):
                found.extend(_walk_images(match))
            elif os.path.isfile(match):
                found.append(match)
        return found
    if os.path.isfile(spec):
        return [spec]
    return []


def list_files(pattern_or_dir):
    """Lists image files given a glob, a directory, or a comma-separated list of them.

    Each comma-separated item may be:

    * a directory: all ``*.jpg``, ``*.jpeg`` and ``*.png`` files below it
      (recursively, extensions matched case-insensitively, hidden files and
      directories skipped);
    * a glob such as ``"../data/train/*/*.jpg"`` (``**`` is recursive); every
      matching file is taken as is, matching directories are expanded as above;
    * the path of a single file.

    A sequence of such strings is accepted as well.

    Args:
        pattern_or_dir: A string (or path-like, or a list/tuple of them).

    Returns:
        The sorted list of distinct matching file paths (`str`).

    Raises:
        ValueError: If the specification is empty or any item matches no file.
    """
    if isinstance(pattern_or_dir, (str, os.PathLike)):
        specs = [os.fspath(pattern_or_dir)]
    else:
        specs = [os.fspath(spec) for spec in pattern_or_dir]
    items = [item.strip() for spec in specs for item in spec.split(",")]
    items = [item for item in items if item]
    if not items:
        raise ValueError(f"tfnq: no image files given ({pattern_or_dir!r})")
    files = set()
    for item in items:
        found = _expand_one(item)
        if not found:
            if os.path.isdir(os.path.expanduser(item)):
                what = f"no *.jpg, *.jpeg or *.png files in directory {item!r}"
            else:
                what = f"no files match {item!r}"
            raise ValueError(f"tfnq: {what}")
        files.update(os.path.normpath(path) for path in found)
    return sorted(files)


def _as_file_list(files):
    """Accepts a list of paths, or anything `list_files` accepts as a single string."""
    if isinstance(files, (str, os.PathLike)):
        return list_files(files)
    files = [os.fspath(path) for path in files]
    if not files:
        raise ValueError("tfnq: the list of image files is empty")
    return files


def _read_and_decode(path):
    """Reads an image file and decodes it as uint8 [H, W, 3] (greyscale -> RGB)."""
    image = tf.io.decode_image(
        tf.io.read_file(path), channels=3, dtype=tf.uint8, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _random_scaled_crop(image, seed, patch_size, scale_range):
    """Draws a random downscaled square patch of an image.

    A scale factor is drawn uniformly from `scale_range` and raised, if
    needed, so that the scaled shorter side stays >= `patch_size`. Rather than
    resizing the whole image and then cropping, the square region that maps
    onto the patch is cropped first and only that region is resized (with
    antialiasing): the same distribution of patches at a fraction of the cost.

    Args:
        image: uint8 tensor [H, W, 3] with min(H, W) >= `patch_size`.
        seed: int64 tensor [2], seed for the stateless random ops.
        patch_size: Python int.
        scale_range: (low, high) Python floats.

    Returns:
        float32 tensor [patch_size, patch_size, 3] with values in [0, 255].
    """
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    shorter = tf.cast(tf.minimum(height, width), tf.float32)
    low, high = scale_range
    scale = tf.random.stateless_uniform([], seed=seeds[0], minval=low, maxval=high)
    scale = tf.maximum(scale, patch_size / shorter)
    # Side of the source region that becomes the patch.
    size = tf.cast(tf.round(patch_size / scale), tf.int32)
    size = tf.clip_by_value(size, 1, tf.minimum(height, width))
    top = tf.random.stateless_uniform(
        [], seed=seeds[1], minval=0, maxval=height - size + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform(
        [], seed=seeds[2], minval=0, maxval=width - size + 1, dtype=tf.int32)
    region = tf.cast(image[top:top + size, left:left + size, :], tf.float32)
    patch = tf.cond(
        tf.equal(size, patch_size),
        lambda: region,
        lambda: tf.image.resize(
            region, [patch_size, patch_size], method="bilinear", antialias=True))
    patch = tf.clip_by_value(patch, 0.0, 255.0)
    patch.set_shape([patch_size, patch_size, 3])
    return patch


def make_train_dataset(
    files,
    patch_size=128,
    batch_size=8,
    scale_range=(0.6, 1.0),
    shuffle_buffer=256,
    seed=None,
    cache=True,
):
    """Builds the infinite training dataset of random image patches.

    Pipeline: shuffle file names -> read and decode (JPEG, PNG, ...; greyscale
    becomes RGB) -> drop undecodable files -> drop images whose shorter side
    is < `patch_size` -> optionally cache the decoded uint8 images in memory ->
    repeat -> shuffle -> random downscale by a factor drawn uniformly from
    `scale_range` (clamped so that the scaled shorter side stays >=
    `patch_size`), bilinear with antialiasing -> random `patch_size` square
    crop -> batch (dropping the remainder) -> prefetch. No flips.

    With `seed=None` the maps run with ``deterministic=False`` for speed. With
    an integer `seed` the pipeline is reproducible: all random draws use
    stateless ops seeded from `seed` and element order is kept deterministic.

    If no file at all is usable, iteration ends immediately instead of
    looping forever.

    Args:
        files: List of image paths, or a glob / directory / comma-separated
            string understood by `list_files`.
        patch_size: Side of the square patches, in pixels.
        batch_size: Number of patches per batch.
        scale_range: (low, high) range of the random downscaling factor,
            0 < low <= high.
        shuffle_buffer: Size of the shuffle buffer of (decoded) images.
        seed: Optional int seed for reproducible shuffling and cropping.
        cache: Whether to keep the decoded images in memory after the first
            pass (about H * W * 3 bytes per image).

    Returns:
        A `tf.data.Dataset` of float32 tensors [batch_size, patch_size,
        patch_size, 3] with values in [0, 255] (not normalized).

    Raises:
        ValueError: If `files` is empty or an argument is out of range.
    """
    files = _as_file_list(files)
    patch_size = int(patch_size)
    batch_size = int(batch_size)
    shuffle_buffer = int(shuffle_buffer)
    if patch_size < 1:
        raise ValueError(f"tfnq: patch_size must be positive, got {patch_size}")
    if batch_size < 1:
        raise ValueError(f"tfnq: batch_size must be positive, got {batch_size}")
    if shuffle_buffer < 1:
        raise ValueError(f"tfnq: shuffle_buffer must be positive, got {shuffle_buffer}")
    low, high = (float(x) for x in scale_range)
    if not 0.0 < low <= high:
        raise ValueError(f"tfnq: scale_range must satisfy 0 < low <= high, got {scale_range}")
    deterministic = seed is not None
    autotune = tf.data.AUTOTUNE

    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(files, dtype=tf.string))
    dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(
        _read_and_decode, num_parallel_calls=autotune, deterministic=deterministic)
    dataset = dataset.ignore_errors()
    dataset = dataset.filter(
        lambda image: tf.reduce_min(tf.shape(image)[:2]) >= patch_size)
    if cache:
        dataset = dataset.cache()
    dataset = dataset.repeat()
    dataset = dataset.shuffle(shuffle_buffer, seed=seed)
    # One [2] int64 seed per patch for the stateless random ops.
    seeds = tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)
    dataset = tf.data.Dataset.zip((dataset, seeds))
    dataset = dataset.map(
        lambda image, patch_seed: _random_scaled_crop(
            image, patch_seed, patch_size, (low, high)),
        num_parallel_calls=autotune,
        deterministic=deterministic)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(autotune)


def make_eval_dataset(files):
    """Builds a dataset of full-size images for evaluation, in file order.

    Undecodable files are not skipped: iterating raises
    `tf.errors.InvalidArgumentError`, so that evaluation results are never
    silently computed on a subset.

    Args:
        files: List of image paths, or a glob / directory / comma-separated
            string understood by `list_files`.

    Returns:
        A `tf.data.Dataset` of (name, image) pairs, unbatched: `name` is a
        scalar tf.string holding the file path, `image` a uint8 tensor
        [H, W, 3] (greyscale converted to RGB).

    Raises:
        ValueError: If `files` is empty.
    """
    files = _as_file_list(files)
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(files, dtype=tf.string))
    dataset = dataset.map(
        lambda path: (path, _read_and_decode(path)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)
    return dataset.prefetch(1)
