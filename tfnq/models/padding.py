"""Fitting images of any size to a codec's downsampling factor, and back."""

import tensorflow as tf

__all__ = [
    "crop_to_image",
    "pad_image",
]


def pad_image(image, multiple):
    """uint8 `[H, W, 3]` -> float32 `[1, H', W', 3]`, sides padded to a multiple.

    Padding replicates the last row and column (edge padding), which costs fewer
    bits than zeros and works for any side, including 1 pixel. A side that needs
    no padding is not copied.
    """
    x = tf.cast(image, tf.float32)[None]
    return _pad_axis(_pad_axis(x, multiple, axis=1), multiple, axis=2)


def _pad_axis(x, multiple, axis):
    """Repeats the last slice of `x` along `axis` up to a multiple (no copy if none)."""
    size = tf.shape(x)[axis]
    pad = (multiple - size % multiple) % multiple

    def padded():
        last = tf.gather(x, [size - 1], axis=axis)
        return tf.concat([x, tf.repeat(last, pad, axis=axis)], axis)

    return tf.cond(pad > 0, padded, lambda: x)


def crop_to_image(x_hat, height, width):
    """float `[1, H', W', 3]` in 0-255 -> uint8 `[height, width, 3]` (rounded, clipped)."""
    return tf.saturate_cast(tf.round(x_hat[0, :height, :width, :]), tf.uint8)
